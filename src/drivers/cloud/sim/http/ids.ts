import { createHash } from 'node:crypto';

/** 32 hex digits derived from a label: Keystone-style ids that stay the same across restarts. */
export function stableHex(label: string): string {
  return createHash('sha256').update(label).digest('hex').slice(0, 32);
}

/** A UUID (version 5 layout) derived from a label. */
export function stableUuid(label: string): string {
  const h = stableHex(`uuid:${label}`).split('');
  h[12] = '5';
  h[16] = ((parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** oslo's is_uuid_like: hex with or without dashes. */
export const isUuidLike = (value: string): boolean => UUID.test(value);
