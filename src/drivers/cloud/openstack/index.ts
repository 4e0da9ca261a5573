export { OpenStackCloudDriver, OpenStackDriverOptions, createOpenStackCloudDriver, openstackCloudDriverFactory } from './openstack-cloud-driver';
export type { OpenStackDriverSettings, ResetStateTarget } from './openstack-cloud-driver';
export { loadCloudConfig, cloudsFileCandidates, configDirs, readCloudsFile } from './clouds';
export type { CloudAuth, CloudConfig, Interface, LoadCloudOptions } from './clouds';
export { Secret } from './secret';
export { DEFAULT_MICROVERSION_CAP } from './microversion';
