import { definePlugin, defineWorkflow } from '../../src/plugins/api';
import { evacuateInstanceMachine } from './evacuate-instance.machine';
import { fenceThenEvacuateMachine } from './machine';

export default definePlugin({
  name: 'fence-then-evacuate',
  description: 'Fence a failed host, confirm it is off, then evacuate its instances',
  workflows: [
    defineWorkflow({
      name: 'fence-then-evacuate',
      description: 'Fence the host (verified), force its service down, evacuate every instance, summarize',
      handles: ['host-down'],
      machine: fenceThenEvacuateMachine,
    }),
    defineWorkflow({
      name: 'evacuate-instance',
      description: 'Evacuate one instance from a fenced host (child of host recoveries)',
      handles: [],
      machine: evacuateInstanceMachine,
    }),
  ],
});
