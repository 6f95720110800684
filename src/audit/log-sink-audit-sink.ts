import { gzipSync } from 'node:zlib';
import { TaupageError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import type { AuditBatch, AuditSink } from './audit-sink.js';

/** The original pushed with no timeout at all; a stuck POST must not stall the next batch. */
const POST_TIMEOUT_MS = 10_000;

export interface LogSinkOptions {
  /** taupage.yaml `instance_logs_url` (log-sink, which forwards to Fullstop and S3). */
  readonly url: string;
  readonly username: string;
  readonly password: Secret;
  readonly accountId: string;
  readonly region: string;
  readonly instanceId: string;
  /** ISO time the instance booted: Fullstop files logs under `<instance-id>-<boot time>`. */
  readonly instanceBootTime: string;
  readonly fetch?: typeof fetch;
}

/**
 * The original's log-sink protocol: POST JSON with base64 `log_data`, Basic auth, 201 means
 * accepted. AUDIT_LOG data is gzip'ed (Fullstop stores it as audit-log-<ts>.log.gz); USER_DATA
 * is the masked taupage.yaml, once per boot.
 */
export class LogSinkAuditSink implements AuditSink {
  readonly name = 'log-sink';
  readonly #options: LogSinkOptions;

  constructor(options: LogSinkOptions) {
    this.#options = options;
  }

  async put(batch: AuditBatch, signal: AbortSignal): Promise<void> {
    await this.#post('AUDIT_LOG', gzipSync(batch.body), signal);
  }

  /** The masked taupage.yaml (no plaintext secret in it: aws:kms: values stay ciphertexts). */
  async putUserData(maskedYaml: string, signal: AbortSignal): Promise<void> {
    await this.#post('USER_DATA', Buffer.from(maskedYaml, 'utf8'), signal);
  }

  async #post(logType: 'AUDIT_LOG' | 'USER_DATA', data: Buffer, signal: AbortSignal): Promise<void> {
    const o = this.#options;
    const body = JSON.stringify({
      account_id: o.accountId,
      region: o.region,
      instance_boot_time: o.instanceBootTime,
      instance_id: o.instanceId,
      log_data: data.toString('base64'),
      log_type: logType,
    });
    const auth = Buffer.from(`${o.username}:${o.password.reveal()}`).toString('base64');
    let status: number;
    try {
      const response = await (o.fetch ?? fetch)(o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Basic ${auth}` },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(POST_TIMEOUT_MS)]),
      });
      status = response.status;
      await response.body?.cancel();
    } catch (error) {
      throw new TaupageError('AUDIT_SHIP_FAILED', `log-sink POST (${logType}) failed: no answer`, {
        cause: error,
      });
    }
    if (status !== 201)
      throw new TaupageError('AUDIT_SHIP_FAILED', `log-sink refused ${logType}: HTTP ${status}`, {
        retriable: status >= 500 || status === 429,
      });
  }
}
