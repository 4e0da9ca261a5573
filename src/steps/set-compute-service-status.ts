import * as t from 'io-ts';
import { defineStep } from '../plugins/api';

/** Nova keeps at most 255 characters of a disabled reason. */
const MAX_REASON = 255;

/**
 * Enables a host's compute service, or keeps it disabled with a reason that says why (Nova's `disabled_reason`,
 * what `openstack compute service list --long` shows an operator). Checks first: a service already enabled, or
 * already disabled with that very reason, is not touched.
 */
export const setComputeServiceStatus = defineStep({
  name: 'setComputeServiceStatus',
  description: 'Enable the compute service, or keep it disabled with a reason',
  input: t.intersection([t.type({ host: t.string, enabled: t.boolean }), t.partial({ reason: t.string })]),
  timeoutMs: 60_000,
  async run({ host, enabled, reason }, { drivers, engine, signal }) {
    const wanted = enabled ? undefined : (reason ?? 'resurrect: kept disabled').slice(0, MAX_REASON);
    let service = await drivers.cloud.getService(host, { signal });
    const already = enabled ? service.status === 'enabled' : service.status === 'disabled' && service.disabledReason === wanted;
    if (!already) service = await drivers.cloud.setServiceEnabled(host, enabled, wanted, { signal });
    await engine.audit(enabled
      ? `${host}'s compute service ${already ? 'was already' : 'is'} enabled: back in service`
      : `${host}'s compute service ${already ? 'stays' : 'is kept'} disabled: ${wanted}`, { host, status: service.status, changed: !already });
    return { host, status: service.status, ...(service.disabledReason ? { disabledReason: service.disabledReason } : {}), changed: !already };
  },
});
