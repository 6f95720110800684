/** A loader that runs once; `started` is its promise once something asked for it. */
export interface Lazy<T> {
  (): Promise<T>;
  readonly started: Promise<T> | undefined;
}

/**
 * A loader that runs once, on first use, and hands every caller the same promise. For the
 * adapters that pull in big libraries (dockerode, the AWS SDK, prom-client): they load after
 * the status endpoint is up, or only when a config needs them. A failed load stays failed
 * (the caller reports it; the agent does not retry an import).
 */
export function lazy<T>(load: () => Promise<T>): Lazy<T> {
  let loaded: Promise<T> | undefined;
  const get = (): Promise<T> => (loaded ??= load());
  return Object.defineProperty(get, 'started', { get: () => loaded }) as Lazy<T>;
}
