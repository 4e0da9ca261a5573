import { definePlugin, defineWorkflow } from '../../src/plugins/api';
import { notifyOnlyMachine } from './machine';

export default definePlugin({
  name: 'notify-only',
  description: 'Record and notify, then wait for an operator',
  workflows: [defineWorkflow({
    name: 'notify-only',
    description: 'Record the failure, notify, and wait durably for an operator decision',
    handles: ['host-down', 'service-down', 'instance-down', 'host-degraded'],
    machine: notifyOnlyMachine,
  })],
});
