import type { Logger } from 'pino';
import { toResurrectError } from '../../domain';
import type { CloudDriver } from './port';

/**
 * At process start: reach the cloud once (log in, agree on the API version) so that the first recovery does
 * not pay for it, and so that a wrong endpoint or password shows in the log at start rather than in the first
 * incident. Never fails the start: the cloud may be down when we come up, and recoveries retry their calls.
 */
export async function connectCloud(cloud: CloudDriver, log: Logger, timeoutMs = 30_000): Promise<boolean> {
  if (!cloud.connect) return true;
  try {
    const reached = await cloud.connect({ signal: AbortSignal.timeout(timeoutMs) });
    log.info(`cloud reached: ${reached}`);
    return true;
  } catch (err) {
    const error = toResurrectError(err);
    log.warn({ code: error.code, err: error.message }, `cloud not reachable at start (${error.message}); recoveries will retry their calls`);
    return false;
  }
}
