import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostFacts, InstanceFacts, PolicyReferences } from '../../../src/policy/policy';

export const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'policy');
export const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

export const REFS: PolicyReferences = {
  slas: new Set(['gold', 'silver', 'bronze']),
  workflows: new Set(['fence-then-evacuate', 'live-migrate-first', 'restart-in-place']),
};

export const vm = (over: Partial<InstanceFacts> = {}): InstanceFacts => ({
  metadata: {},
  flavor: { name: 'm1.small', extraSpecs: {} },
  image: 'img-ubuntu',
  project: 'p1',
  ...over,
});

export const host = (over: Partial<HostFacts> = {}): HostFacts => ({ name: 'compute-1', zone: 'az-1', aggregates: ['rack-1'], tags: [], ...over });
