import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import { parseApplicationUser } from '../host/application-user.js';
import { CredentialsRefresher, type CredentialsState } from '../host/credentials-refresher.js';
import { ensureCustomLogDir } from '../host/custom-log-dir.js';
import { defaultDiskSettings } from '../host/disks/disk-settings.js';
import { describeDiskReport, prepareDisks } from '../host/disks/prepare-disks.js';
import { LinuxFilesystems } from '../host/disks/linux-filesystems.js';
import { MdadmRaidArrays } from '../host/disks/mdadm-raid-arrays.js';
import type { HostMetadata } from '../host/host-metadata.js';
import { LifecycleWatcher, type TerminationNotice } from '../lifecycle/lifecycle-watcher.js';
import { applyNatGatewayRouting, fetchS3Prefixes } from '../host/nat-gateway-routing.js';
import { applySysctl } from '../host/sysctl-settings.js';
import { applySysfs } from '../host/sysfs-settings.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { Scheduler } from '../metrics/scheduler.js';
import type { ErrorReporter } from '../status/error-reporter.js';

/** AMI-level settings of host preparation (flags: `taupage agent --help`). */
export interface HostSettings {
  /**
   * `all` (EC2 default): every host key is acted on. `app-only` (local mode, tests): only what
   * stays inside the agent's own directories (credentials into /meta, the custom log dir);
   * sysctl, sysfs, routes and disks are refused with a clear error instead of touching the host.
   */
  readonly scope: 'all' | 'app-only';
  /** Host side of `mount_custom_log` (the container's /var/log). */
  readonly customLogDir: string;
  /** Endpoint overrides (tests, emulators). */
  readonly s3Endpoint: string | undefined;
  readonly ec2Endpoint: string | undefined;
  readonly autoScalingEndpoint: string | undefined;
  /** How often IMDS is asked for a spot or Auto Scaling termination notice. */
  readonly lifecyclePollSeconds: number;
}

export interface HostDependencies {
  readonly settings: HostSettings;
  readonly metaDir: string;
  /** `uid:gid` of the app user. */
  readonly applicationUser: string;
  /** IMDS in EC2 mode (subnet, public IPv4, termination notices); undefined in local mode. */
  readonly imds: HostMetadata | undefined;
  /** node-cron, loaded on first use (not on the start-up path). */
  readonly loadScheduler: () => Promise<Scheduler>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly errors: ErrorReporter;
}

/** What the agent does when IMDS announces the instance's end (see lifecycle-drain.ts). */
export type TerminationHandler = (notice: TerminationNotice) => void;

/**
 * Host preparation: the boot's `host` step (OS tuning, routing, disks, the app's credentials,
 * all before the container starts) and what keeps running after it (the credentials refresh,
 * the termination watcher).
 */
export class HostPreparation {
  readonly #deps: HostDependencies;
  readonly #log: Logger;
  #credentials: CredentialsRefresher | undefined;
  #watcher: LifecycleWatcher | undefined;

  constructor(deps: HostDependencies) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'host' });
  }

  /** The `host` boot step; returns its one-line detail. Throws TaupageError naming the key. */
  async prepare(config: TaupageConfig, identity: InstanceIdentity, signal: AbortSignal): Promise<string> {
    const done: string[] = [];
    const owner = parseApplicationUser(this.#deps.applicationUser);
    try {
      await ensureCustomLogDir(owner, this.#deps.settings.customLogDir);
    } catch (error) {
      // On a developer's machine (app-only scope) the agent may not run as root: a custom log
      // dir it cannot hand to uid 999 is not worth failing the boot for.
      if (this.#deps.settings.scope === 'all') throw error;
      this.#log.warn({ err: error }, 'Could not prepare the custom log dir; continuing (local mode)');
    }

    if (config.sysctl.size > 0) {
      this.#requireHostScope('sysctl');
      await applySysctl(config.sysctl, { log: this.#log }, signal);
      done.push(`sysctl ${config.sysctl.size}`);
    }
    if (config.sysfs.size > 0) {
      this.#requireHostScope('sysfs');
      await applySysfs(config.sysfs, { log: this.#log });
      done.push(`sysfs ${config.sysfs.size}`);
    }
    if (config.natGateways.size > 0) {
      this.#requireHostScope('nat_gateways');
      done.push(`nat_gateways ${await this.#routeThroughNat(config, identity, signal)}`);
    }
    if (config.volumes.ebs.size > 0 || config.volumes.raid.size > 0 || config.mounts.length > 0) {
      this.#requireHostScope(config.mounts.length > 0 ? 'mounts' : 'volumes');
      done.push(await this.#prepareDisks(config, identity, signal));
    }
    if (config.mintBucket !== undefined) {
      done.push(await this.#fetchCredentials(config, config.mintBucket, identity, owner, signal));
    }
    return done.length === 0 ? 'nothing to prepare' : done.join('; ');
  }

  /** After a successful boot: the credentials refresh and (on EC2) the termination watcher. */
  async start(onTermination: TerminationHandler): Promise<void> {
    this.#credentials?.start();
    const imds = this.#deps.imds;
    if (imds === undefined) return;
    this.#watcher = new LifecycleWatcher({
      source: imds,
      scheduler: await this.#deps.loadScheduler(),
      log: this.#log,
      intervalSeconds: this.#deps.settings.lifecyclePollSeconds,
      onTermination,
      // Shown in GET /status, not audited: a routine failure of a background round (as credentials).
      recordError: (error) => {
        this.#deps.errors.reportFailure(error.component, error, { audit: false });
      },
    });
    this.#watcher.start();
  }

  stop(): void {
    this.#credentials?.stop();
    this.#watcher?.stop();
  }

  credentialsState(): CredentialsState | undefined {
    return this.#credentials?.state();
  }

  #requireHostScope(key: string): void {
    if (this.#deps.settings.scope === 'all') return;
    throw new TaupageError(
      'HOST_TUNING_FAILED',
      `${key}: changes the host, which this agent may not do (--host-scope app-only, e.g. local mode)`,
    );
  }

  async #routeThroughNat(config: TaupageConfig, identity: InstanceIdentity, signal: AbortSignal) {
    const subnetId = await this.#deps.imds?.subnetId(signal);
    let s3Prefixes: string[] = [];
    try {
      s3Prefixes = await fetchS3Prefixes(identity.region, signal);
    } catch (error) {
      // The original crashed the boot here; S3 traffic then simply goes through the NAT too.
      this.#log.warn({ err: error }, 'Could not read the S3 address ranges; S3 is routed like the rest');
    }
    return applyNatGatewayRouting(
      { natGateways: config.natGateways, subnetId, s3Prefixes },
      { log: this.#log },
      signal,
    );
  }

  async #prepareDisks(config: TaupageConfig, identity: InstanceIdentity, signal: AbortSignal) {
    const { settings, imds } = this.#deps;
    let ec2;
    if (imds !== undefined && config.volumes.ebs.size > 0) {
      const { AwsEc2Volumes } = await import('../host/disks/aws-ec2-volumes.js');
      ec2 = new AwsEc2Volumes({ region: identity.region, endpoint: settings.ec2Endpoint });
    }
    const report = await prepareDisks(
      config,
      {
        ec2,
        instance: {
          instanceId: identity.instanceId,
          availabilityZone: identity.availabilityZone,
          localIpv4: identity.privateIp,
          publicIpv4: await imds?.publicIpv4(signal),
        },
        filesystems: new LinuxFilesystems(),
        raid: new MdadmRaidArrays(),
        clock: this.#deps.clock,
        log: this.#log,
        settings: defaultDiskSettings(this.#deps.applicationUser),
      },
      signal,
    );
    return describeDiskReport(report);
  }

  async #fetchCredentials(
    config: TaupageConfig,
    bucketName: string,
    identity: InstanceIdentity,
    owner: { uid: number; gid: number },
    signal: AbortSignal,
  ) {
    if (config.applicationId === undefined) {
      throw new TaupageError(
        'CONFIG_INVALID',
        'mint_bucket: needs application_id (the folder in the bucket)',
      );
    }
    const { AwsS3CredentialsBucket } = await import('../host/aws-s3-credentials-bucket.js');
    const directory = join(this.#deps.metaDir, 'credentials');
    this.#credentials = new CredentialsRefresher({
      bucket: new AwsS3CredentialsBucket({
        bucket: bucketName,
        region: identity.region,
        endpoint: this.#deps.settings.s3Endpoint,
      }),
      bucketName,
      applicationId: config.applicationId,
      directory,
      owner,
      scheduler: await this.#deps.loadScheduler(),
      clock: this.#deps.clock,
      log: this.#log.child({ component: 'credentials' }),
      recordError: (error) => {
        this.#deps.errors.reportFailure(error.component, error, { audit: false });
      },
    });
    await this.#credentials.initial(signal);
    return `credentials from s3://${bucketName}/${config.applicationId}/ in ${directory}`;
  }
}
