import { definePlugin, defineWorkflow } from '../../src/plugins/api';
import { returnToServiceMachine } from './machine';

export default definePlugin({
  name: 'return-to-service',
  description: 'Bring a fenced host back into service once Nova has cleaned up after its evacuations',
  workflows: [
    defineWorkflow({
      name: 'return-to-service',
      description: 'Power the host on through its fencing levels, lift forced_down once Nova allows it, wait for a heartbeat, enable (or keep disabled)',
      // No failure kind: an operator asks for it (Engine.returnHost, POST /api/v1/hosts/:host/return).
      handles: [],
      machine: returnToServiceMachine,
    }),
  ],
});
