import * as t from 'io-ts';
import type { Flavor } from '../../../domain';
import { decodeOrThrow, HostName, InputError, InstanceId, Metadata, ServerGroupRef, type FieldProblem } from '../../../domain';
import { SimWorld, type SimWorldOptions } from './world';

/*
 * A world described as plain data (JSON/YAML files for `resurrect sim --inventory`, small worlds in tests).
 * Flavors can be named once and referenced by name.
 */

const Positive = t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'PositiveNumber');
const NonNegativeInt = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, 'NonNegativeInteger');

const FlavorBody = t.intersection([t.type({ vcpus: Positive, ramMb: Positive }), t.partial({ extraSpecs: Metadata })]);
const InlineFlavor = t.intersection([t.type({ name: t.string }), FlavorBody]);

export const HostSpecCodec = t.intersection(
  [
    t.type({ name: HostName, vcpus: Positive, ramMb: Positive }),
    t.partial({
      zone: t.string,
      aggregates: t.array(t.string),
      tags: t.array(t.string),
      /** A spare host (placement's reserved-host pool). */
      reserved: t.boolean,
      /** Nova's reserved_host_memory_mb: kept from instances, reported inside usedRamMb. Default DEFAULT_RESERVED_RAM_MB. */
      reservedRamMb: NonNegativeInt,
      enabled: t.boolean,
      disabledReason: t.string,
    }),
  ],
  'HostSpec',
);

export const InstanceSpecCodec = t.intersection(
  [
    t.type({ id: InstanceId, host: HostName, flavor: t.union([t.string, InlineFlavor]) }),
    t.partial({
      name: t.string,
      project: t.string,
      /** '' or absent: boot from volume. */
      image: t.string,
      metadata: Metadata,
      sharedStorage: t.boolean,
      status: t.keyof({ ACTIVE: null, SHUTOFF: null, ERROR: null }),
      locked: t.boolean,
      serverGroup: ServerGroupRef,
    }),
  ],
  'InstanceSpec',
);

export const WorldSpec = t.intersection(
  [
    t.type({ hosts: t.array(HostSpecCodec) }),
    t.partial({
      flavors: t.record(t.string, FlavorBody),
      /** Images that exist. Absent: every image an instance uses. An instance may use one not listed (already gone). */
      images: t.array(t.string),
      instances: t.array(InstanceSpecCodec),
    }),
  ],
  'WorldSpec',
);
export type WorldSpec = t.TypeOf<typeof WorldSpec>;
export type WorldSpecInput = t.OutputOf<typeof WorldSpec>;

/** Builds a world from a spec; every bad reference is reported at once (InputError with paths). */
export function createWorld(input: WorldSpecInput | unknown, options: SimWorldOptions = {}): SimWorld {
  const spec = decodeOrThrow(WorldSpec, input, 'world spec');
  const problems: FieldProblem[] = [];
  const hostNames = new Set<string>();
  spec.hosts.forEach((h, n) => {
    if (hostNames.has(h.name)) problems.push({ path: `hosts[${n}].name`, message: `duplicate host ${h.name}` });
    hostNames.add(h.name);
  });
  const ids = new Set<string>();
  const instances = (spec.instances ?? []).map((i, n) => {
    if (ids.has(i.id)) problems.push({ path: `instances[${n}].id`, message: `duplicate instance ${i.id}` });
    ids.add(i.id);
    if (!hostNames.has(i.host)) problems.push({ path: `instances[${n}].host`, message: `unknown host ${i.host}` });
    const flavor = resolveFlavor(i.flavor, spec.flavors ?? {});
    if (!flavor) problems.push({ path: `instances[${n}].flavor`, message: `unknown flavor ${String(i.flavor)}` });
    return { ...i, flavor };
  });
  if (problems.length > 0) {
    throw new InputError(`invalid world spec: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  }

  const world = new SimWorld(options);
  for (const h of spec.hosts) world.addHost(h);
  const images = spec.images ?? instances.map((i) => i.image ?? '').filter((id) => id !== '');
  for (const image of images) world.addImage(image);
  for (const i of instances) world.addInstance({ ...i, flavor: i.flavor as Flavor });
  return world;
}

function resolveFlavor(ref: string | t.TypeOf<typeof InlineFlavor>, named: Record<string, t.TypeOf<typeof FlavorBody>>): Flavor | undefined {
  if (typeof ref !== 'string') return { name: ref.name, vcpus: ref.vcpus, ramMb: ref.ramMb, extraSpecs: { ...ref.extraSpecs } };
  const body = named[ref];
  return body && { name: ref, vcpus: body.vcpus, ramMb: body.ramMb, extraSpecs: { ...body.extraSpecs } };
}
