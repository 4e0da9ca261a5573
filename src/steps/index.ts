import { definePlugin } from '../plugins/api';
import { checkEvacuable } from './check-evacuable';
import { attestFenced } from './attest-fenced';
import { awaitComputeService } from './check-compute-service';
import { evacuateInstance } from './evacuate-instance';
import { fenceHost } from './fence-host';
import { isolateComputeService } from './isolate-compute-service';
import { listInstances } from './list-instances';
import { liveMigrateInstance } from './live-migrate-instance';
import { notify } from './notify';
import { requestApproval } from './request-approval';
import { restartInstance } from './restart-instance';
import { spawnRecoveries } from './spawn-recoveries';
import { summarizeChildren } from './summarize-children';
import { verifyFenced } from './verify-fenced';

export const BUILTIN_STEPS = [
  fenceHost, verifyFenced, isolateComputeService, listInstances, spawnRecoveries, summarizeChildren,
  checkEvacuable, evacuateInstance, liveMigrateInstance, restartInstance, awaitComputeService, notify,
  requestApproval, attestFenced,
];

/** The built-in steps, registered before any plugin so workflows anywhere may name them. */
export const builtinStepsPlugin = definePlugin({ name: 'builtin-steps', description: 'Steps shipped with Resurrect', steps: BUILTIN_STEPS });
