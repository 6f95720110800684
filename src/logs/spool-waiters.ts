import { abortReason } from '../core/clock.js';

/** Readers waiting for records: woken at once, or once the current turn of the event loop is over. */
export class DataWaiters {
  readonly #waiters = new Set<() => void>();
  #scheduled = false;

  /** Resolves at the next wake; rejects when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.#waiters.delete(wake);
        resolve();
      };
      const onAbort = (): void => {
        this.#waiters.delete(wake);
        reject(abortReason(signal));
      };
      this.#waiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  wake(): void {
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /** Wakes them after what runs now (a source writing a batch of lines): once, not per line. */
  wakeSoon(): void {
    if (this.#scheduled || this.#waiters.size === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.wake();
    });
  }
}
