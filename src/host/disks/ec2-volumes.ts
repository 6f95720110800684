/** One attachment of an EBS volume, in EC2's words (`attaching`, `attached`, `detaching`, …). */
export interface VolumeAttachment {
  readonly instanceId: string;
  /** The device name given to AttachVolume (`/dev/xvdf`), not the NVMe name the kernel picks. */
  readonly device: string;
  readonly state: string;
}

/** An EBS volume as the disk step needs it. */
export interface Ec2Volume {
  readonly volumeId: string;
  readonly availabilityZone: string;
  /** `available`, `in-use`, `creating`, … */
  readonly state: string;
  readonly attachments: readonly VolumeAttachment[];
  readonly tags: ReadonlyMap<string, string>;
}

/**
 * Port: the EC2 volume calls of `volumes.ebs` and `mounts.*.erase_on_boot`. Adapters throw
 * TaupageErrors: VOLUME_API_UNAVAILABLE (retriable: throttling, 5xx, network), VOLUME_ACCESS_DENIED,
 * VOLUME_NOT_FOUND (no such volume id), VOLUME_ATTACH_FAILED (EC2 refused the attachment).
 */
export interface Ec2Volumes {
  /** Volumes with this Name tag, status `available`, in the zone. */
  findAvailable(name: string, availabilityZone: string, signal: AbortSignal): Promise<Ec2Volume[]>;
  /** The volume attached to the instance under this device name, if any. */
  findAttached(instanceId: string, device: string, signal: AbortSignal): Promise<Ec2Volume | undefined>;
  describe(volumeId: string, signal: AbortSignal): Promise<Ec2Volume>;
  attach(volumeId: string, instanceId: string, device: string, signal: AbortSignal): Promise<void>;
  /** Deletes the tag only while it still has this value (EC2 DeleteTags with Key and Value). */
  deleteTag(volumeId: string, key: string, value: string, signal: AbortSignal): Promise<void>;
}
