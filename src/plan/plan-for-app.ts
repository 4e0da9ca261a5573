/**
 * The dry-run plan of an app: its cloud (read only), its current policy, its SLAs, limits and params. What the
 * running `resurrect start` answers `resurrect plan` with, what the command computes when none runs, and what
 * `POST /api/v1/plans` answers. Here rather than in the CLI so the API does not depend on a CLI module.
 */
import type { App } from '../container';
import type { Config } from '../config/config';
import { CLOUD_DRIVER, type CloudDriver } from '../drivers/cloud/port';
import type { PlanRequest } from '../engine/control-channel';
import { DEFAULT_LIVENESS_WAIT_SECONDS } from '../steps/verify-fenced';
import type { RecoveryPlan } from './plan-codec';
import { simLatency } from './plan';
import { planFromCloud } from './planner';

export function planForApp(app: Pick<App, 'container' | 'engine' | 'registry'>, config: Config, request: PlanRequest): Promise<RecoveryPlan> {
  const kind = request.kind ?? 'host-down';
  const baseParams = { ...config.params, ...(config.paramsByKind[kind] ?? {}) };
  const liveness = Number(baseParams.livenessWaitSeconds ?? DEFAULT_LIVENESS_WAIT_SECONDS);
  // The simulated cloud runs at its timeScale; a real one (and its BMCs) in real time.
  const timeScale = config.cloud.driver === 'sim' ? config.cloud.sim.timeScale : 1;
  return planFromCloud({
    cloud: app.container.get<CloudDriver>(CLOUD_DRIVER),
    policy: app.engine.currentPolicy(),
    workflows: config.workflows,
    baseParams,
    sla: (name) => app.registry.findSla(name),
    failedHosts: request.failedHosts,
    kind,
    limits: { global: config.limits.global, perTargetHost: config.limits.perTargetHost },
    latency: simLatency({ timeScale, livenessWaitSeconds: Number.isFinite(liveness) ? liveness : DEFAULT_LIVENESS_WAIT_SECONDS }),
  });
}
