/** What the API commands share: tables, times, JSON, and checking the options they send. */
import Table from 'cli-table3';
import { InputError } from '../domain';

/** A cli-table3 table: coloured head and borders on a terminal only (pipes and tests get plain text). */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const tty = Boolean(process.stdout.isTTY);
  const out = new Table({ head: [...head], style: { head: tty ? ['cyan'] : [], border: tty ? ['grey'] : [] } });
  for (const row of rows) out.push([...row]);
  return out.toString();
}

/** Exactly the API's JSON, one line. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** `2026-05-01 12:00:03` (UTC, as recorded). */
export function when(iso: string | undefined | null): string {
  return iso ? iso.slice(0, 19).replace('T', ' ') : '-';
}

/** Seconds between two times, `-` when one is missing. */
export function took(from: string | undefined, to: string | undefined): string {
  if (!from || !to) return '-';
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? (ms / 1000).toFixed(1) : '-';
}

const RELATIVE = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/i;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `--since` / `--until`: an ISO 8601 time (`2026-05-01T12:00:00Z`, `2026-05-01`) or a span before now (`90s`,
 * `15m`, `2h`, `7d`, `1w`). Sent to the API as ISO 8601. Anything else is invalid input (exit 2).
 */
export function timeOption(value: string | undefined, flag: string, now = Date.now()): string | undefined {
  if (value === undefined) return undefined;
  const relative = RELATIVE.exec(value.trim());
  if (relative) return new Date(now - Number(relative[1]) * UNIT_MS[relative[2]!.toLowerCase()]!).toISOString();
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && Number.isFinite(Date.parse(value))) return new Date(Date.parse(value)).toISOString();
  throw new InputError(`${flag}: expected an ISO 8601 time (2026-05-01T12:00:00Z) or a span before now (90s, 15m, 2h, 7d), got ${JSON.stringify(value)}`, [{ path: flag, message: 'not a time' }]);
}

/** A whole number option within bounds (exit 2 otherwise). */
export function integerOption(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d{1,9}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InputError(`${flag}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`, [{ path: flag, message: 'out of range' }]);
  }
  return n;
}

/** One of `choices` (exit 2 otherwise): commander checks the options it declares, this the rest. */
export function choiceOption<T extends string>(value: string | undefined, flag: string, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) {
    throw new InputError(`${flag}: expected one of ${choices.join(', ')}, got ${JSON.stringify(value)}`, [{ path: flag, message: 'not a known value' }]);
  }
  return value as T;
}

/** A one-line summary of free-form values (`targetHost=compute-5 name=web-1`), cut at `max` characters. */
export function summary(values: Readonly<Record<string, unknown>> | undefined, max = 80): string {
  if (!values) return '';
  const parts = Object.entries(values)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const text = parts.join(' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
