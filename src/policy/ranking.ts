/**
 * The order of work under contention, shared by the real run (admission to recovery slots, `admission.ts`)
 * and the dry run (`plan`): earliest deadline first, then priority (1 first), then the id, so two runs of the
 * same scenario order the same way. One number, so Redis can keep the order in a sorted set for every worker.
 */
export interface RankInput {
  /** When the recovery must be done (incident opened + the SLA's deadline), epoch ms; null = no deadline. */
  readonly deadlineAtMs: number | null;
  /** The SLA's priority, 1 most urgent; values above 99 are treated as 99. */
  readonly priority: number;
}

/** Stands in for "no deadline": after every real one (year 2255), still exact in a double once scaled. */
const NO_DEADLINE_MS = 9e12;

/** deadline (ms) × 100 + priority: below 2^53, so the order is exact. Ties fall to the member (the id). */
export function rankScore({ deadlineAtMs, priority }: RankInput): number {
  const deadline = deadlineAtMs === null ? NO_DEADLINE_MS : Math.min(Math.max(0, Math.floor(deadlineAtMs)), NO_DEADLINE_MS);
  return deadline * 100 + Math.min(Math.max(1, Math.floor(priority)), 99);
}

/** For sorting in memory: the same order Redis keeps (score, then id). */
export function compareRanked(a: RankInput & { readonly id: string }, b: RankInput & { readonly id: string }): number {
  return rankScore(a) - rankScore(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export function deadlineAt(openedAtMs: number, deadlineSeconds: number | null | undefined): number | null {
  return deadlineSeconds === null || deadlineSeconds === undefined ? null : openedAtMs + deadlineSeconds * 1000;
}
