import { definePlugin, defineWorkflow } from '../../src/plugins/api';
import { restartInPlaceMachine } from './machine';

export default definePlugin({
  name: 'restart-in-place',
  description: 'Restart a crashed instance on its own host',
  workflows: [defineWorkflow({
    name: 'restart-in-place',
    description: 'Stop/start (or hard reboot) an instance on its host and confirm ACTIVE; escalate or fall back after the retry budget',
    handles: ['instance-down'],
    machine: restartInPlaceMachine,
  })],
});
