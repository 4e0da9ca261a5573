import { HttpFault } from './errors';

/** One compute API microversion, 2.N. */
export type Microversion = number;

export const MIN_MICROVERSION = 1;
/**
 * 2.95 is the newest behaviour the sim reproduces (evacuated instances end stopped); later microversions
 * change nothing recovery uses, but are refused rather than pretended.
 */
export const MAX_MICROVERSION = 95;

export const versionString = (minor: Microversion): string => `2.${minor}`;

/**
 * The requested microversion: `OpenStack-API-Version: compute 2.NN` (several services may be listed,
 * comma-separated), else the legacy `X-OpenStack-Nova-API-Version: 2.NN`, else 2.1. `latest` is the maximum.
 * Malformed ⇒ 400, outside [min, max] ⇒ 406, with Nova's messages.
 */
export function requestedMicroversion(headers: Readonly<Record<string, string | string[] | undefined>>): Microversion {
  const first = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  let requested: string | undefined;
  const modern = first('openstack-api-version');
  if (modern !== undefined) {
    for (const part of modern.split(',')) {
      const [service, version] = part.trim().split(/\s+/, 2);
      if (service?.toLowerCase() === 'compute') requested = version ?? '';
    }
  }
  if (requested === undefined) requested = first('x-openstack-nova-api-version')?.trim();
  if (requested === undefined) return MIN_MICROVERSION;
  if (requested.toLowerCase() === 'latest') return MAX_MICROVERSION;
  const match = /^(\d+)\.(\d+)$/.exec(requested);
  if (!match) {
    throw new HttpFault(400, `API Version String ${requested} is of invalid format. Must be of format MajorNum.MinorNum.`);
  }
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major !== 2 || minor < MIN_MICROVERSION || minor > MAX_MICROVERSION) {
    throw new HttpFault(406, `Version ${requested} is not supported by the API. Minimum is ${versionString(MIN_MICROVERSION)} and maximum is ${versionString(MAX_MICROVERSION)}.`);
  }
  return minor;
}

/** Response headers that echo the microversion served. */
export function microversionHeaders(minor: Microversion): Record<string, string> {
  return {
    'openstack-api-version': `compute ${versionString(minor)}`,
    'x-openstack-nova-api-version': versionString(minor),
    vary: 'OpenStack-API-Version, X-OpenStack-Nova-API-Version',
  };
}
