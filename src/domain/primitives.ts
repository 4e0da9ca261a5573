import * as t from 'io-ts';

interface HostNameBrand { readonly HostName: unique symbol }
/** A compute service host as Nova names it (`OS-EXT-SRV-ATTR:host`). */
export const HostName = t.brand(t.string, (s): s is t.Branded<string, HostNameBrand> => /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(s), 'HostName');
export type HostName = t.TypeOf<typeof HostName>;

interface InstanceIdBrand { readonly InstanceId: unique symbol }
/** A server UUID (or any opaque id the cloud uses). */
export const InstanceId = t.brand(t.string, (s): s is t.Branded<string, InstanceIdBrand> => /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(s), 'InstanceId');
export type InstanceId = t.TypeOf<typeof InstanceId>;

interface IsoTimeBrand { readonly IsoTime: unique symbol }
export const IsoTime = t.brand(t.string, (s): s is t.Branded<string, IsoTimeBrand> => !Number.isNaN(Date.parse(s)), 'IsoTime');
export type IsoTime = t.TypeOf<typeof IsoTime>;

interface NonNegativeIntBrand { readonly NonNegativeInt: unique symbol }
export const NonNegativeInt = t.brand(t.number, (n): n is t.Branded<number, NonNegativeIntBrand> => Number.isInteger(n) && n >= 0, 'NonNegativeInt');
export type NonNegativeInt = t.TypeOf<typeof NonNegativeInt>;

export const Metadata = t.record(t.string, t.string, 'Metadata');
export type Metadata = t.TypeOf<typeof Metadata>;

export const Identifier = t.refinement(t.string, (s) => /^[a-z][a-z0-9-]{0,63}$/.test(s), 'Identifier');

export const isoNow = (ms: number): IsoTime => new Date(ms).toISOString() as IsoTime;
