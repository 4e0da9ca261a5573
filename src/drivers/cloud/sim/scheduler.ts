/**
 * The sim's placement: far simpler than Nova's filter scheduler, but with the properties recovery depends on:
 * never the source, never a host that is disabled or down, never over capacity, never a host `avoid`s (Nova's
 * ServerGroupAntiAffinityFilter), and deterministic.
 */
export interface Candidate {
  readonly name: string;
  readonly enabled: boolean;
  readonly up: boolean;
  readonly reserved: boolean;
  readonly freeVcpus: number;
  readonly freeRamMb: number;
}

export interface Need {
  readonly vcpus: number;
  readonly ramMb: number;
}

export function fits(c: Candidate, need: Need): boolean {
  return c.enabled && c.up && c.freeVcpus >= need.vcpus && c.freeRamMb >= need.ramMb;
}

/**
 * Most free RAM first (a burst lands on the emptiest hosts, as with Nova's default weighers), ties by name.
 * Reserved spares are used only when nothing else fits: an operator targets them explicitly when wanted.
 */
export function pickHost(candidates: readonly Candidate[], need: Need, source: string, avoid?: ReadonlySet<string>): string | undefined {
  const eligible = candidates.filter((c) => c.name !== source && fits(c, need) && !avoid?.has(c.name));
  eligible.sort(
    (a, b) => Number(a.reserved) - Number(b.reserved) || b.freeRamMb - a.freeRamMb || a.name.localeCompare(b.name),
  );
  return eligible[0]?.name;
}
