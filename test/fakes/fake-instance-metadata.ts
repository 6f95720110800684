import type { InstanceIdentity, InstanceMetadata } from '../../src/metadata/instance-metadata.js';
import { TaupageError } from '../../src/core/errors.js';

export const FAKE_IDENTITY: InstanceIdentity = {
  instanceId: 'i-0fake',
  region: 'eu-central-1',
  availabilityZone: 'eu-central-1a',
  accountId: '123456789012',
  privateIp: '10.0.0.1',
  imageId: 'ami-0fake',
  instanceType: 't3.micro',
  autoScalingGroupName: 'kio-42',
};

export class FakeInstanceMetadata implements InstanceMetadata {
  constructor(public data: string | undefined) {}

  identity(): Promise<InstanceIdentity> {
    return Promise.resolve(FAKE_IDENTITY);
  }

  identitySignature(): Promise<string> {
    return Promise.resolve('MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwGggCSABIIB');
  }

  userData(): Promise<Buffer> {
    if (this.data === undefined)
      return Promise.reject(new TaupageError('USER_DATA_NOT_FOUND', 'no user data'));
    return Promise.resolve(Buffer.from(this.data));
  }
}
