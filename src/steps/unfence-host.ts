import * as t from 'io-ts';
import { defineStep } from '../plugins/api';

export interface UnfenceHostOutput {
  readonly host: string;
  /** True when the power already read on: nothing was switched (a resumed step, or someone else powered it on). */
  readonly alreadyOn: boolean;
  /** The nova-compute heartbeat (`updated_at`, Nova's clock) read before any power-on: the later steps wait for a newer one. */
  readonly heartbeatBefore: string;
  readonly poweredOnAt: number;
}

/**
 * Powers a fenced host back on through the fencing topology (`FencingDriver.unfence`: the first level whose
 * devices all accept), the way back from `fenceHost`. Checks first: a host whose power already reads on is not
 * powered on again, so a worker killed after the power-on but before the transition was written (a resumed or
 * retried step) never switches it twice. The heartbeat mark is read before acting; when the host already ran,
 * it is the heartbeat of now, so the wait that follows is for the next one (it proves the compute runs).
 * Before the power-on, every fence evidence of the host is revoked: its power-off is history from then on.
 */
export const unfenceHost = defineStep({
  name: 'unfenceHost',
  description: 'Power a fenced host back on through its fencing levels (unless it already reads on)',
  input: t.type({ host: t.string }),
  timeoutMs: 180_000,
  async run({ host }, { drivers, engine, clock, signal, recovery }): Promise<UnfenceHostOutput> {
    const service = await drivers.cloud.getService(host, { signal });
    const power = await drivers.fencing.status(host, { signal });
    await engine.revokeFences(host);
    if (power === 'on') {
      await engine.audit(`${host} already reads powered on: not powered on again`, { host, power });
      return { host, alreadyOn: true, heartbeatBefore: service.updatedAt, poweredOnAt: clock.now() };
    }
    const poweredOnAt = clock.now();
    await drivers.fencing.unfence(host, { signal });
    const by = typeof recovery.params.requestedBy === 'string' ? ` for ${recovery.params.requestedBy}` : '';
    await engine.audit(`powered ${host} on through its fencing topology (it read ${power})${by}`, {
      host, power, levels: drivers.fencing.topology(host), heartbeatBefore: service.updatedAt,
    });
    return { host, alreadyOn: false, heartbeatBefore: service.updatedAt, poweredOnAt };
  },
});
