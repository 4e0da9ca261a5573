import type { SimAction } from './actions';

export type CallOutcome = 'accepted' | 'refused';

export interface Tally {
  readonly accepted: number;
  readonly refused: number;
  readonly total: number;
}

export interface CounterSnapshot {
  /** Per action, every subject together. */
  readonly actions: Readonly<Partial<Record<SimAction, Tally>>>;
  /** Per action, then per subject (instance id for server actions, host name for service and device calls). */
  readonly subjects: Readonly<Partial<Record<SimAction, Readonly<Record<string, Tally>>>>>;
}

/**
 * Every call the sim answers, by outcome: `accepted` when it did what was asked (or answered a read),
 * `refused` when it threw. Lets a test say "evacuate was issued exactly once per VM".
 */
export class CallCounters {
  private readonly actions = new Map<SimAction, MutableTally>();
  private readonly subjects = new Map<SimAction, Map<string, MutableTally>>();

  record(action: SimAction, subject: string | undefined, outcome: CallOutcome): void {
    bump(this.actions, action, outcome);
    if (subject === undefined) return;
    let bySubject = this.subjects.get(action);
    if (!bySubject) this.subjects.set(action, (bySubject = new Map()));
    bump(bySubject, subject, outcome);
  }

  count(action: SimAction, subject?: string, outcome?: CallOutcome): number {
    const tally = subject === undefined ? this.actions.get(action) : this.subjects.get(action)?.get(subject);
    if (!tally) return 0;
    return outcome === undefined ? tally.accepted + tally.refused : tally[outcome];
  }

  snapshot(): CounterSnapshot {
    const actions: Partial<Record<SimAction, Tally>> = {};
    for (const [action, tally] of this.actions) actions[action] = freeze(tally);
    const subjects: Partial<Record<SimAction, Record<string, Tally>>> = {};
    for (const [action, bySubject] of this.subjects) {
      subjects[action] = Object.fromEntries([...bySubject].map(([subject, tally]) => [subject, freeze(tally)]));
    }
    return { actions, subjects };
  }

  reset(): void {
    this.actions.clear();
    this.subjects.clear();
  }
}

interface MutableTally {
  accepted: number;
  refused: number;
}

function bump<K>(map: Map<K, MutableTally>, key: K, outcome: CallOutcome): void {
  let tally = map.get(key);
  if (!tally) map.set(key, (tally = { accepted: 0, refused: 0 }));
  tally[outcome]++;
}

const freeze = (t: MutableTally): Tally => ({ accepted: t.accepted, refused: t.refused, total: t.accepted + t.refused });
