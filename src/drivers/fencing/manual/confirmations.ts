/**
 * Manual fencing state in Redis, shared by the engine (the ManualFenceDevice asks and waits) and the CLI in
 * another process (`resurrect fence pending`, `resurrect fence confirm <host> --by NAME`). One hash per host,
 * `keys.manualFence(host)`:
 *   request      {id, host, device, requestedAt, at}        written by the device when it needs a power-off
 *   confirmation {host, by, at, comment?, requestId}        written by an operator, for that request only
 * A confirmation names the request it answers, so an old confirmation never vouches for a newer request.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { nonRetryable } from '../../../domain';
import type { Keys } from '../../../engine/keys';

export interface ManualFenceRequest {
  readonly id: string;
  readonly host: string;
  /** The device that asked (`manual:compute-1`). */
  readonly device: string;
  /** Epoch ms on the engine's clock (freshness is judged on that clock only). */
  readonly requestedAt: number;
  /** ISO time of the request, for people. */
  readonly at: string;
}

/** The audit-friendly record of an operator's word that the host is powered off. */
export interface ManualFenceConfirmation {
  readonly host: string;
  readonly by: string;
  /** ISO time of the confirmation. */
  readonly at: string;
  readonly comment?: string;
  /** The request this confirmation answers. */
  readonly requestId: string;
}

export interface ManualFenceState {
  readonly request?: ManualFenceRequest;
  readonly confirmation?: ManualFenceConfirmation;
}

/** Writes the confirmation only if the request it answers is still the current one. */
const CONFIRM_SCRIPT = `
if redis.call('HGET', KEYS[1], 'request') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'confirmation', ARGV[2])
return 1`;

export async function readManualFence(redis: Redis, keys: Keys, host: string): Promise<ManualFenceState> {
  const [request, confirmation] = await redis.hmget(keys.manualFence(host), 'request', 'confirmation');
  return {
    ...(request ? { request: JSON.parse(request) as ManualFenceRequest } : {}),
    ...(confirmation ? { confirmation: JSON.parse(confirmation) as ManualFenceConfirmation } : {}),
  };
}

/** True when the confirmation answers this very request. */
export function confirms(state: ManualFenceState): boolean {
  return state.request !== undefined && state.confirmation !== undefined && state.confirmation.requestId === state.request.id;
}

/** A new request for a power-off of `host` (any previous request and confirmation are dropped). */
export async function requestPowerOff(redis: Redis, keys: Keys, host: string, device: string, now: number): Promise<ManualFenceRequest> {
  const request: ManualFenceRequest = { id: randomUUID(), host, device, requestedAt: now, at: new Date(now).toISOString() };
  await redis.multi().hset(keys.manualFence(host), 'request', JSON.stringify(request)).hdel(keys.manualFence(host), 'confirmation').exec();
  return request;
}

/**
 * An operator's confirmation that `host` is powered off, for the request pending now. Resolves with the
 * record written, or undefined when no request is pending for the host (a confirmation always answers a
 * request: one given in advance could vouch for a host powered on again since).
 */
export async function confirmPowerOff(redis: Redis, keys: Keys, host: string, by: string, comment?: string, now: number = Date.now()): Promise<ManualFenceConfirmation | undefined> {
  if (by.trim().length === 0) throw nonRetryable('RSR_INPUT_INVALID', 'a manual fence confirmation must name who gives it (--by)');
  for (let attempt = 0; attempt < 3; attempt++) {
    const raw = await redis.hget(keys.manualFence(host), 'request');
    if (!raw) return undefined;
    const request = JSON.parse(raw) as ManualFenceRequest;
    const record: ManualFenceConfirmation = { host, by, at: new Date(now).toISOString(), ...(comment ? { comment } : {}), requestId: request.id };
    const written = await redis.eval(CONFIRM_SCRIPT, 1, keys.manualFence(host), raw, JSON.stringify(record));
    if (written === 1) return record;
    // a new request replaced the one we read: answer the current one instead
  }
  return undefined;
}

/** Requests no operator has confirmed yet, oldest first. */
export async function pendingRequests(redis: Redis, keys: Keys): Promise<ManualFenceRequest[]> {
  const match = `${keys.manualFence('').replace(/[*?[\]\\]/g, '\\$&')}*`;
  const found: ManualFenceRequest[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 500);
    cursor = next;
    for (const key of batch) {
      const [request, confirmation] = await redis.hmget(key, 'request', 'confirmation');
      if (!request) continue;
      const state: ManualFenceState = {
        request: JSON.parse(request) as ManualFenceRequest,
        ...(confirmation ? { confirmation: JSON.parse(confirmation) as ManualFenceConfirmation } : {}),
      };
      if (!confirms(state)) found.push(state.request as ManualFenceRequest);
    }
  } while (cursor !== '0');
  return found.sort((a, b) => a.requestedAt - b.requestedAt);
}

/** Forgets the request and its confirmation (the host is being powered on again). */
export async function clearManualFence(redis: Redis, keys: Keys, host: string): Promise<void> {
  await redis.hdel(keys.manualFence(host), 'request', 'confirmation');
}
