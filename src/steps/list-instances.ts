import * as t from 'io-ts';
import { defineStep } from '../plugins/api';

export interface InstanceSummary {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly sharedStorage: boolean;
  readonly image: string;
}

/** The instances Nova places on the host. Nothing is filtered out silently: the policy issue adds selection. */
export const listInstances = defineStep({
  name: 'listInstances',
  description: 'List the instances on a host',
  input: t.type({ host: t.string }),
  timeoutMs: 60_000,
  async run({ host }, { drivers, signal }): Promise<InstanceSummary[]> {
    const instances = await drivers.cloud.listInstances(host, { signal });
    return instances
      .map((i) => ({ id: i.id, name: i.name, status: i.status, sharedStorage: i.sharedStorage, image: i.image }))
      .sort((a, b) => a.id.localeCompare(b.id));
  },
});
