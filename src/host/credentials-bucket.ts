/**
 * Port: the mint bucket the app's OAuth credentials come from (S3 on EC2). Adapters map their
 * failures to CREDENTIALS_DENIED (the bucket refused, or the object is missing) or
 * CREDENTIALS_UNAVAILABLE (throttled, 5xx, network); `retriable` says whether another try may help.
 */
export interface CredentialsBucket {
  /** The bytes of `key` (e.g. `hello/user.json`). */
  get(key: string, signal: AbortSignal): Promise<Buffer>;
}
