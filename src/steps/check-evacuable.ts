import * as t from 'io-ts';
import { nonRetryable } from '../domain';
import { defineStep } from '../plugins/api';
import { evacuatedElsewhere, latestEvacuation, migrationsMatter } from './evacuation-state';

/**
 * Everything that must hold before an evacuation, checked before acting:
 * - invariant I1: the source host is confirmed fenced for this incident, or nothing happens;
 * - an instance already resurrected on another host is done (a resumed recovery must not evacuate it again);
 * - local-storage instances are rebuilt from their image, so the image must still exist.
 */
export const checkEvacuable = defineStep({
  name: 'checkEvacuable',
  description: 'Check fencing evidence, current placement and image before evacuating',
  input: t.type({ host: t.string, instance: t.string }),
  timeoutMs: 60_000,
  async run({ host, instance }, { drivers, engine, signal }) {
    const evidence = await engine.fenceEvidence(host);
    if (!evidence) {
      throw nonRetryable('RSR_NOT_FENCED', `refusing to evacuate ${instance}: ${host} is not confirmed fenced`, { details: { host, instance } });
    }
    const server = await drivers.cloud.getInstance(instance, { signal });
    const latest = migrationsMatter(server, host) ? latestEvacuation(await drivers.cloud.listMigrations(instance, { signal }), host) : undefined;
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
