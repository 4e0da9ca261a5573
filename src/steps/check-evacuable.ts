import * as t from 'io-ts';
import { nonRetryable } from '../domain';
import { defineStep } from '../plugins/api';
import { evacuatedElsewhere, freshlySeen, latestEvacuation, recordsJudgeElsewhere } from './evacuation-state';

/**
 * Everything that must hold before an evacuation, checked before acting:
 * - invariant I1: the source host is confirmed fenced for this incident, or nothing happens;
 * - an instance already resurrected on another host is done (a resumed recovery must not evacuate it again);
 * - local-storage instances are rebuilt from their image, so the image must still exist.
 * Right after the fan-out it stands on the fan-out's reading of the instance (`freshlySeen`); the evacuation
 * reads the instance itself before it acts.
 */
export const checkEvacuable = defineStep({
  name: 'checkEvacuable',
  description: 'Check fencing evidence, current placement and image before evacuating',
  input: t.type({ host: t.string, instance: t.string }),
  timeoutMs: 60_000,
  async run({ host, instance }, context) {
    const { drivers, engine, signal } = context;
    const evidence = await engine.fenceEvidence(host);
    if (!evidence) {
      throw nonRetryable('RSR_NOT_FENCED', `refusing to evacuate ${instance}: ${host} is not confirmed fenced`, { details: { host, instance } });
    }
    const server = freshlySeen(context) ?? (await drivers.cloud.getInstance(instance, { signal }));
    const latest = recordsJudgeElsewhere(server, host) ? latestEvacuation(await drivers.cloud.listMigrations(instance, { signal }), host) : undefined;
    if (evacuatedElsewhere(server, latest, host)) {
      return { action: 'none' as const, name: server.name, targetHost: server.host, reason: `already ${server.status} on another host` };
    }
    if (!server.sharedStorage && server.image !== '' && !(await drivers.cloud.imageExists(server.image, { signal }))) {
      throw nonRetryable('RSR_IMAGE_GONE', `cannot rebuild ${instance}: its image ${server.image} no longer exists and its disk is local`, {
        details: { instance, image: server.image },
      });
    }
    // Nova ≥ 2.95 brings every evacuated instance back stopped: remember whether it ran, to start it after.
    return { action: 'evacuate' as const, name: server.name, sharedStorage: server.sharedStorage, wasActive: server.status === 'ACTIVE' };
  },
});
