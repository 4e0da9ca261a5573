import { definePlugin } from '../plugins/api';
import { checkEvacuable } from './check-evacuable';
import { attestFenced } from './attest-fenced';
import { awaitHeartbeat } from './await-heartbeat';
import { awaitComputeService } from './check-compute-service';
import { evacuateInstance } from './evacuate-instance';
import { fenceHost } from './fence-host';
import { isolateComputeService } from './isolate-compute-service';
import { liftForcedDown } from './lift-forced-down';
import { listInstances } from './list-instances';
import { liveMigrateInstance } from './live-migrate-instance';
import { notify } from './notify';
import { requestApproval } from './request-approval';
import { restartInstance } from './restart-instance';
import { setComputeServiceStatus } from './set-compute-service-status';
import { spawnRecoveries } from './spawn-recoveries';
import { summarizeChildren } from './summarize-children';
import { unfenceHost } from './unfence-host';
import { verifyFenced } from './verify-fenced';

export const BUILTIN_STEPS = [
  fenceHost, verifyFenced, isolateComputeService, listInstances, spawnRecoveries, summarizeChildren,
  checkEvacuable, evacuateInstance, liveMigrateInstance, restartInstance, awaitComputeService, notify,
  requestApproval, attestFenced,
  // Returning a fenced host to service (workflows/return-to-service).
  unfenceHost, liftForcedDown, awaitHeartbeat, setComputeServiceStatus,
];

/** The built-in steps, registered before any plugin so workflows anywhere may name them. */
export const builtinStepsPlugin = definePlugin({ name: 'builtin-steps', description: 'Steps shipped with Resurrect', steps: BUILTIN_STEPS });
