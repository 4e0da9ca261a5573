import { loadPolicy, Policy, PolicyError } from './policy';
import type { PolicyReferences } from './policy';

export type ReloadResult =
  | { readonly ok: true; readonly policy: Policy; readonly changed: boolean; readonly previous: string }
  | { readonly ok: false; readonly error: PolicyError; readonly current: string };

export interface PolicyStoreOptions {
  /** Past versions kept for `byVersion` (oldest dropped first; the current one is never dropped). Default 32. */
  readonly maxVersions?: number;
}

/**
 * The running policy and the versions it replaced. `reload` validates first: a refused file leaves the running
 * policy in place. An in-flight recovery looks its version up with `byVersion` to finish under the rules it
 * started with.
 */
export class PolicyStore {
  #current: Policy;
  readonly #versions = new Map<string, Policy>();
  readonly #maxVersions: number;

  constructor(initial: Policy, private readonly references: PolicyReferences, options: PolicyStoreOptions = {}) {
    this.#maxVersions = Math.max(1, options.maxVersions ?? 32);
    this.#current = initial;
    this.#remember(initial);
  }

  /** Loads the first policy; throws a PolicyError when it is refused (there is nothing to fall back to). */
  static load(text: string, file: string, references: PolicyReferences, options: PolicyStoreOptions = {}): PolicyStore {
    return new PolicyStore(loadPolicy(text, file, references), references, options);
  }

  current(): Policy {
    return this.#current;
  }

  byVersion(version: string): Policy | undefined {
    return this.#versions.get(version);
  }

  /** Versions kept, oldest first. */
  versions(): readonly string[] {
    return [...this.#versions.keys()];
  }

  reload(text: string, file: string): ReloadResult {
    const previous = this.#current.version;
    let next: Policy;
    try {
      next = loadPolicy(text, file, this.references);
    } catch (err) {
      if (err instanceof PolicyError) return { ok: false, error: err, current: previous };
      throw err;
    }
    if (next.version === previous) return { ok: true, policy: this.#current, changed: false, previous };
    this.#current = next;
    this.#remember(next);
    return { ok: true, policy: next, changed: true, previous };
  }

  #remember(policy: Policy): void {
    this.#versions.delete(policy.version);
    this.#versions.set(policy.version, policy);
    for (const version of this.#versions.keys()) {
      if (this.#versions.size <= this.#maxVersions) break;
      if (version !== this.#current.version) this.#versions.delete(version);
    }
  }
}
