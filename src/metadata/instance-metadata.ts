/** What the agent needs to know about the instance it runs on. */
export interface InstanceIdentity {
  readonly instanceId: string;
  readonly region: string;
  readonly availabilityZone: string;
  readonly accountId: string;
  readonly privateIp: string | undefined;
  readonly imageId: string | undefined;
  readonly instanceType: string | undefined;
  /** From the instance tag aws:autoscaling:groupName (IMDS shows tags only when enabled). */
  readonly autoScalingGroupName: string | undefined;
}

/** Port: the instance's identity and user data (IMDSv2 on EC2, a file in local mode). */
export interface InstanceMetadata {
  identity(signal: AbortSignal): Promise<InstanceIdentity>;
  /** The PKCS7 signature of the identity document: a registry login for Pier One-style registries. */
  identitySignature(signal: AbortSignal): Promise<string>;
  /** Raw user data bytes; throws USER_DATA_NOT_FOUND when there is none. */
  userData(signal: AbortSignal): Promise<Buffer>;
}
