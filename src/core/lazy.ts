/** A loader that runs once; `started` is its promise once something asked for it. */
export interface Lazy<T> {
  (): Promise<T>;
  readonly started: Promise<T> | undefined;
}

export interface LazyOptions {
  /** A failed load is forgotten: the next call loads again (a preload that may fail early). */
  readonly forgetFailure?: boolean;
}

/**
 * A loader that runs once, on first use, and hands every caller the same promise. For the
 * adapters that pull in big libraries (dockerode, the AWS SDK, prom-client): they load after
 * the status endpoint is up, or only when a config needs them. A failed load stays failed
 * (the caller reports it; the agent does not retry an import) unless `forgetFailure`.
 */
export function lazy<T>(load: () => Promise<T>, options: LazyOptions = {}): Lazy<T> {
  let loaded: Promise<T> | undefined;
  const get = (): Promise<T> => {
    if (loaded !== undefined) return loaded;
    const attempt = load();
    loaded = attempt;
    if (options.forgetFailure === true)
      attempt.catch(() => {
        if (loaded === attempt) loaded = undefined;
      });
    return attempt;
  };
  return Object.defineProperty(get, 'started', { get: () => loaded }) as Lazy<T>;
}
