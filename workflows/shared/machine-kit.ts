/**
 * Pieces the built-in machines share. Pure: types and small functions over context, no I/O.
 */
import type { RecoveryInput, RecoveryOutput } from '../../src/plugins/api';

export interface ErrorInfo {
  readonly code: string;
  readonly message: string;
}

/** The JSON part of a step error kept in context (the error object itself is not serialisable). */
export function errorInfo(error: unknown): ErrorInfo {
  const e = error as { code?: unknown; message?: unknown } | undefined;
  return { code: typeof e?.code === 'string' ? e.code : 'RSR_INTERNAL', message: typeof e?.message === 'string' ? e.message : String(error) };
}

export interface ChildSummary {
  readonly outcome: RecoveryOutput['outcome'];
  readonly total: number;
  readonly recovered: number;
  readonly failed: readonly { readonly instance: string; readonly outcome: string; readonly reason: string }[];
  readonly children: readonly Record<string, unknown>[];
}

export function describeFailures(summary: ChildSummary | undefined): string {
  if (!summary || summary.failed.length === 0) return '';
  return summary.failed.map((f) => `${f.instance} ${f.outcome}${f.reason ? ` (${f.reason})` : ''}`).join('; ');
}

export const hostOf = (input: RecoveryInput): string => input.subject.host;
export const instanceOf = (input: RecoveryInput): string => input.subject.instance ?? '';

export function param<T>(input: RecoveryInput, name: string, fallback: T): T {
  const value = input.params[name];
  return value === undefined ? fallback : (value as T);
}
