import { randomBytes } from 'node:crypto';

/** Sortable, readable ids: time in base36 plus randomness. */
export function newIncidentId(now: number): string {
  return `inc-${now.toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** The root recovery of an incident; derived, so a repeated enqueue cannot double it. */
export const rootRecoveryId = (incidentId: string): string => `rec-${incidentId.slice(4)}`;

/** A child recovery: derived from its parent and a key stable across retries (the instance id). */
export const childRecoveryId = (parentId: string, key: string): string => `${parentId}.${key.replace(/[^A-Za-z0-9_-]/g, '_')}`;

export const incidentIdOf = (recoveryId: string): string => `inc-${recoveryId.slice(4).split('.')[0]}`;
