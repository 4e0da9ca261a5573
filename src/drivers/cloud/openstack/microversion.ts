/**
 * Compute API microversions ("2.53"): parsing, ordering and the negotiation rule. Pure functions.
 */

export interface Microversion {
  readonly major: number;
  readonly minor: number;
}

/** The highest microversion the driver speaks unless configured lower (see the README of this folder). */
export const DEFAULT_MICROVERSION_CAP = '2.95';

/** Microversions where request bodies or answers change for the calls the driver makes. */
export const MV = {
  forcedDown: '2.11',
  evacuateWithoutSharedStorage: '2.14',
  migrationType: '2.23',
  liveMigrateAuto: '2.25',
  embeddedFlavor: '2.47',
  serviceUuids: '2.53',
  migrationPaging: '2.59',
  /** Server groups show `policy` (and `rules`) instead of `policies: [name]`. */
  serverGroupPolicy: '2.64',
  /** `GET /servers/{id}` names the server's groups (`server_groups`); `servers/detail` never does. */
  serverGroupsInServer: '2.71',
  /** The last microversion where os-hypervisors reports vcpus/memory and their usage. */
  hypervisorStats: '2.87',
  /** The last microversion with Nova's image proxy (`GET /images/{id}`), used when the catalog has no Glance. */
  imageProxy: '2.35',
} as const;

export function parseMicroversion(text: string): Microversion | undefined {
  const match = /^\s*(\d+)\.(\d+)\s*$/.exec(text);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]) };
}

export function compareMicroversions(a: Microversion, b: Microversion): number {
  return a.major - b.major || a.minor - b.minor;
}

export const formatMicroversion = (v: Microversion): string => `${v.major}.${v.minor}`;

/** `v >= at` (`at` written as "2.NN"). */
export function atLeast(v: Microversion, at: string): boolean {
  return compareMicroversions(v, parseMicroversion(at)!) >= 0;
}

export const lower = (a: Microversion, b: Microversion): Microversion => (compareMicroversions(a, b) <= 0 ? a : b);

/**
 * The version to speak: the lower of what the server offers and our cap. Undefined when the ranges do not
 * meet (a cap under the server's minimum).
 */
export function negotiate(server: { min: Microversion; max: Microversion }, cap: Microversion): Microversion | undefined {
  const chosen = lower(server.max, cap);
  return compareMicroversions(chosen, server.min) < 0 ? undefined : chosen;
}
