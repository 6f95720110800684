import { TaupageError } from '../core/errors.js';
import { readConfigFile } from '../config/load-config.js';
import type { InstanceIdentity, InstanceMetadata } from './instance-metadata.js';

/** Local mode: the config file stands in for user data, and the identity is a fixed local one. */
export class LocalInstanceMetadata implements InstanceMetadata {
  constructor(
    private readonly configPath: string,
    private readonly region: string,
  ) {}

  identity(): Promise<InstanceIdentity> {
    return Promise.resolve({
      instanceId: 'i-local00000000000',
      region: this.region,
      availabilityZone: `${this.region}a`,
      accountId: '000000000000',
      privateIp: '127.0.0.1',
      imageId: undefined,
      instanceType: undefined,
      autoScalingGroupName: undefined,
    });
  }

  identitySignature(): Promise<string> {
    return Promise.reject(
      new TaupageError(
        'REGISTRY_AUTH_FAILED',
        'Local mode has no signed instance identity to log in to a registry with',
      ),
    );
  }

  userData(): Promise<Buffer> {
    return readConfigFile(this.configPath);
  }
}
