import { chmod, chown, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import { writeFileAtomically } from '../audit/atomic-file.js';
import type { Clock } from '../core/clock.js';
import { TaupageError, toTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import { everySeconds, scheduleSpreadMs, type Scheduler } from '../metrics/scheduler.js';
import type { CredentialsBucket } from './credentials-bucket.js';

/** berry's interval: mint rotates the credentials far less often, this bounds the staleness. */
export const CREDENTIALS_REFRESH_SECONDS = 120;
/** The files berry kept in /meta/credentials (`CREDENTIALS_DIR` in the container). */
export const CREDENTIALS_FILES = ['user.json', 'client.json'] as const;

/**
 * The boot's download: berry tried once and went on without credentials, leaving the app to fail
 * later and obscurely. We retry for up to 30 s (full jitter from 500 ms, ×2, cap 5 s) — enough
 * for a throttled S3, a fresh role's policy or mint's first write to settle — then fail the boot
 * with the code that says why, before the container starts.
 */
export const CREDENTIALS_BOOT_RETRY: RetryPolicy = {
  name: 'credentials',
  maxAttempts: 10,
  initialDelayMs: 500,
  maxDelayMs: 5_000,
  multiplier: 2,
  budgetMs: 30_000,
  jitter: true,
};

/** A refresh round gets a quarter of the interval; the next round is its retry. */
const ROUND_TIMEOUT_FRACTION = 4;

export interface CredentialsRefresherOptions {
  readonly bucket: CredentialsBucket;
  /** For messages and status only (`s3://<name>`). */
  readonly bucketName: string;
  readonly applicationId: string;
  /** /meta/credentials. */
  readonly directory: string;
  /** Owner of the directory and files: the app user (999:999); undefined keeps the agent's own. */
  readonly owner: { readonly uid: number; readonly gid: number } | undefined;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly intervalSeconds?: number;
  readonly bootRetry?: RetryPolicy;
  /** Each refresh this long after its cron tick; default a random scheduleSpreadMs. */
  readonly offsetMs?: number;
  /** AgentState.recordError fits: failures of refresh rounds show up in GET /status. */
  readonly recordError?: (error: { at: string; component: string; code: string; message: string }) => void;
}

export interface CredentialsState {
  readonly source: string;
  readonly directory: string;
  readonly intervalSeconds: number;
  readonly lastSuccessAt: string | undefined;
  readonly lastError: { readonly at: string; readonly code: string; readonly message: string } | undefined;
  readonly consecutiveFailures: number;
  readonly rounds: { readonly success: number; readonly failure: number };
  /** Files replaced because their content changed. */
  readonly rotations: number;
}

/**
 * `mint_bucket`: keeps `<bucket>/<application_id>/{user,client}.json` in /meta/credentials, as
 * berry did. Each file must be a JSON object; it is replaced atomically (temp file, fsync,
 * rename) and only when it changed, mode 0600 owned by the app user (the container reads it
 * through the read-only /meta mount; nobody else can). A failed round keeps the last good files.
 * File contents are never logged, never put in errors or status.
 */
export class CredentialsRefresher {
  readonly #options: CredentialsRefresherOptions;
  readonly #intervalSeconds: number;
  readonly #stopping = new AbortController();
  #job: { stop(): void } | undefined;
  #state: CredentialsState;

  constructor(options: CredentialsRefresherOptions) {
    this.#options = options;
    this.#intervalSeconds = options.intervalSeconds ?? CREDENTIALS_REFRESH_SECONDS;
    this.#state = {
      source: `s3://${options.bucketName}/${options.applicationId}/`,
      directory: options.directory,
      intervalSeconds: this.#intervalSeconds,
      lastSuccessAt: undefined,
      lastError: undefined,
      consecutiveFailures: 0,
      rounds: { success: 0, failure: 0 },
      rotations: 0,
    };
  }

  state(): CredentialsState {
    return this.#state;
  }

  /**
   * The boot step, before the container starts: prepares the directory and downloads both files,
   * retrying per CREDENTIALS_BOOT_RETRY. Throws CREDENTIALS_DENIED or CREDENTIALS_UNAVAILABLE.
   */
  async initial(signal: AbortSignal): Promise<void> {
    const { clock, log } = this.#options;
    await this.#prepareDirectory();
    try {
      await retry(() => this.#round(signal), this.#options.bootRetry ?? CREDENTIALS_BOOT_RETRY, {
        clock,
        signal,
        isRetriable: (error) => error instanceof TaupageError && error.retriable,
        onRetry: (error, attempt, delayMs) => {
          const failure = toTaupageError(error);
          log.warn(
            { attempt, delayMs, code: failure.code, reason: failure.message },
            'Credentials not downloaded yet, retrying',
          );
        },
      });
    } catch (error) {
      if (signal.aborted) throw error;
      throw this.#failed(error);
    }
    this.#succeeded();
    log.info(
      { directory: this.#options.directory, source: this.#state.source },
      'Downloaded app credentials',
    );
  }

  /** Starts the refresh schedule (every 2 minutes). */
  start(): void {
    if (this.#job !== undefined) return;
    // Each instance refreshes at its own offset after the tick, not the whole fleet at :00.
    this.#job = this.#options.scheduler.schedule(
      everySeconds(this.#intervalSeconds),
      () => this.refreshOnce(),
      { offsetMs: this.#options.offsetMs ?? scheduleSpreadMs(this.#intervalSeconds) },
    );
  }

  stop(): void {
    this.#stopping.abort();
    this.#job?.stop();
    this.#job = undefined;
  }

  /** One refresh round. Never throws: the outcome goes to the log, status and metrics. */
  async refreshOnce(): Promise<void> {
    const timeout = AbortSignal.timeout((this.#intervalSeconds * 1000) / ROUND_TIMEOUT_FRACTION);
    const signal = AbortSignal.any([this.#stopping.signal, timeout]);
    try {
      await this.#round(signal);
      this.#succeeded();
    } catch (error) {
      if (this.#stopping.signal.aborted) return;
      const failure = this.#failed(
        timeout.aborted
          ? new TaupageError(
              'CREDENTIALS_UNAVAILABLE',
              `Refreshing credentials from ${this.#state.source} timed out`,
            )
          : error,
      );
      this.#options.log.warn(
        { code: failure.code, reason: failure.message, consecutiveFailures: this.#state.consecutiveFailures },
        'Could not refresh app credentials; keeping the last good copy',
      );
    }
  }

  /** Downloads and checks both files first, then replaces those that changed. */
  async #round(signal: AbortSignal): Promise<void> {
    const { bucket, applicationId } = this.#options;
    // allSettled: no download is left running when the other one fails.
    const results = await Promise.allSettled(
      CREDENTIALS_FILES.map(async (name) => {
        const key = `${applicationId}/${name}`;
        const body = await bucket.get(key, signal);
        if (!isJsonObject(body)) {
          // No cause: a JSON.parse message would quote the (secret) content.
          throw new TaupageError(
            'CREDENTIALS_DENIED',
            `s3://${this.#options.bucketName}/${key} is not a JSON object`,
          );
        }
        return { name, body };
      }),
    );
    const downloads = results.map((result) => {
      if (result.status === 'rejected') throw result.reason;
      return result.value;
    });
    for (const { name, body } of downloads) await this.#install(name, body);
  }

  async #install(name: string, body: Buffer): Promise<void> {
    const path = join(this.#options.directory, name);
    const current = await readFile(path).catch(() => undefined);
    if (current?.equals(body) === true) return;
    try {
      await writeFileAtomically(path, body.toString('utf8'), this.#options.owner);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new TaupageError('HOST_TUNING_FAILED', `Could not write ${path} (${code})`, { cause: error });
    }
    this.#state = { ...this.#state, rotations: this.#state.rotations + 1 };
    this.#options.log.info({ file: path }, 'Rotated app credentials file');
  }

  async #prepareDirectory(): Promise<void> {
    const { directory, owner } = this.#options;
    try {
      await mkdir(directory, { recursive: true, mode: 0o700 });
      await chmod(directory, 0o700);
      if (owner !== undefined) await chown(directory, owner.uid, owner.gid);
    } catch (error) {
      throw new TaupageError(
        'HOST_TUNING_FAILED',
        `Could not prepare ${directory} for the credentials (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: error },
      );
    }
  }

  #succeeded(): void {
    const s = this.#state;
    this.#state = {
      ...s,
      lastSuccessAt: new Date(this.#options.clock.now()).toISOString(),
      consecutiveFailures: 0,
      rounds: { ...s.rounds, success: s.rounds.success + 1 },
    };
  }

  #failed(error: unknown): TaupageError {
    const failure = toTaupageError(error);
    const at = new Date(this.#options.clock.now()).toISOString();
    const s = this.#state;
    this.#state = {
      ...s,
      lastError: { at, code: failure.code, message: failure.message },
      consecutiveFailures: s.consecutiveFailures + 1,
      rounds: { ...s.rounds, failure: s.rounds.failure + 1 },
    };
    this.#options.recordError?.({
      at,
      component: 'credentials',
      code: failure.code,
      message: failure.message,
    });
    return failure;
  }
}

function isJsonObject(body: Buffer): boolean {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * `taupage_credentials_*` in the agent's registry, read from the refresher's state at scrape time.
 */
export function registerCredentialsMetrics(registry: Registry, refresher: CredentialsRefresher): void {
  const registers = [registry];
  new Gauge({
    name: 'taupage_credentials_last_success_timestamp_seconds',
    help: 'When the app credentials were last downloaded completely (unix seconds); absent before.',
    registers,
    collect() {
      const at = refresher.state().lastSuccessAt;
      if (at === undefined) this.reset();
      else this.set(Date.parse(at) / 1000);
    },
  });
  new Gauge({
    name: 'taupage_credentials_consecutive_failures',
    help: 'Failed credential refresh rounds since the last good one.',
    registers,
    collect() {
      this.set(refresher.state().consecutiveFailures);
    },
  });
  new Counter({
    name: 'taupage_credentials_refreshes_total',
    help: 'Credential download rounds, by outcome.',
    labelNames: ['outcome'],
    registers,
    collect() {
      const { rounds } = refresher.state();
      this.reset();
      this.inc({ outcome: 'success' }, rounds.success);
      this.inc({ outcome: 'failure' }, rounds.failure);
    },
  });
}
