import { definePlugin, defineWorkflow } from '../../src/plugins/api';
import { liveMigrateInstanceMachine } from './live-migrate-instance.machine';
import { liveMigrateFirstMachine } from './machine';

export default definePlugin({
  name: 'live-migrate-first',
  description: 'Move instances off a host that still runs them',
  workflows: [
    defineWorkflow({
      name: 'live-migrate-first',
      description: 'Disable the service, live-migrate every instance away; fallback: escalate, or fence and evacuate where allowed',
      handles: ['host-degraded', 'service-down'],
      machine: liveMigrateFirstMachine,
    }),
    defineWorkflow({
      name: 'live-migrate-instance',
      description: 'Live-migrate one instance away (child of host drains)',
      handles: [],
      machine: liveMigrateInstanceMachine,
    }),
  ],
});
