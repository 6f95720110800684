import type { TerminationNoticeSource } from '../lifecycle/lifecycle-watcher.js';

/**
 * Port: what host preparation and the termination watcher ask the instance metadata service,
 * beyond the identity and user data (ImdsInstanceMetadata implements it; local mode has none).
 */
export interface HostMetadata extends TerminationNoticeSource {
  /** The instance's subnet (nat_gateways routes per subnet). */
  subnetId(signal: AbortSignal): Promise<string | undefined>;
  /** The public IPv4 address, if any (mounts may name it). */
  publicIpv4(signal: AbortSignal): Promise<string | undefined>;
}
