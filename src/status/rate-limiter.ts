/**
 * A token bucket: `ratePerSecond` steady, `burst` at once. The status endpoint uses the ECS
 * agent's task metadata limits (40 rps, burst 60): plenty for humans and scripts, and a
 * runaway poller cannot take CPU from the app.
 */
export class RateLimiter {
  #tokens: number;
  #updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.#tokens = burst;
    this.#updatedAt = now();
  }

  /** Takes a token; false when the bucket is empty (answer 429). */
  tryTake(): boolean {
    const now = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.ratePerSecond);
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
