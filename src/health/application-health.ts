/**
 * The application's health as the agent judges it, from the boot's health gate onwards and for
 * as long as the app runs (see health-monitor.ts). One object, changed only through its named
 * methods; GET /status, /healthz, the metrics and the log read it, and other code can follow it
 * (`subscribe`), e.g. to do something only while the health check passes.
 *
 * `unknown`: not judged yet (booting); `passing`/`failing`: the health check's verdict after the
 * thresholds; `none`: nothing to check (no `health_check_path` and no HEALTHCHECK in the image).
 */
export type HealthStatus = 'unknown' | 'passing' | 'failing' | 'none';

/** One probe round: the HTTP check and/or the image's Docker HEALTHCHECK state. */
export interface HealthProbeResult {
  readonly ok: boolean;
  /** One line: what answered (e.g. "HTTP 404 from http://127.0.0.1:8080/health"). */
  readonly detail: string;
  /** ms since the epoch, when the round ended. */
  readonly at: number;
  readonly durationMs: number;
}

export interface HealthTransition {
  readonly at: string;
  readonly from: HealthStatus;
  readonly to: HealthStatus;
  /** The probe result (or boot gate outcome) that decided it. */
  readonly reason: string;
}

export type HealthListener = (status: HealthStatus, transition: HealthTransition) => void;

/** How many consecutive results flip the state (see health-monitor.ts for the defaults). */
export interface HealthThresholds {
  readonly failureThreshold: number;
  readonly successThreshold: number;
}

/** How many transitions GET /status keeps: enough to see a flapping app, bounded memory. */
export const MAX_HEALTH_TRANSITIONS = 10;

/** What GET /status shows under `health`. */
export interface HealthView {
  readonly status: HealthStatus;
  /** When the current status began (ISO); null before the first verdict. */
  readonly since: string | null;
  /** The HTTP check (`health_check_path`), when configured. */
  readonly url: string | undefined;
  /** Whether the image's Docker HEALTHCHECK is followed too. */
  readonly dockerHealthcheck: boolean;
  readonly lastCheckedAt: string | undefined;
  readonly lastResult: { readonly at: string; readonly ok: boolean; readonly detail: string } | null;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  /** Newest last, at most MAX_HEALTH_TRANSITIONS. */
  readonly transitions: readonly HealthTransition[];
  /** All transitions since the agent started, by the state entered (taupage_health_check_transitions_total). */
  readonly transitionCounts: Readonly<Record<'passing' | 'failing', number>>;
}

export class ApplicationHealth {
  #status: HealthStatus = 'unknown';
  #since: number | undefined;
  #url: string | undefined;
  #dockerHealthcheck = false;
  #last: HealthProbeResult | undefined;
  #failures = 0;
  #successes = 0;
  readonly #transitions: HealthTransition[] = [];
  readonly #counts = { passing: 0, failing: 0 };
  readonly #listeners = new Set<HealthListener>();

  get status(): HealthStatus {
    return this.#status;
  }

  get passing(): boolean {
    return this.#status === 'passing';
  }

  get url(): string | undefined {
    return this.#url;
  }

  get dockerHealthcheck(): boolean {
    return this.#dockerHealthcheck;
  }

  /** When the current status began (ms since the epoch); undefined before the first verdict. */
  get since(): number | undefined {
    return this.#since;
  }

  get lastResult(): HealthProbeResult | undefined {
    return this.#last;
  }

  /** The boot found nothing to check: no health_check_path and no HEALTHCHECK in the image. */
  nothingToCheck(): void {
    this.#url = undefined;
    this.#dockerHealthcheck = false;
    this.#status = 'none';
    this.#since = undefined;
  }

  /** The boot's health gate starts: what is checked (the verdict is still unknown). */
  checking(url: string | undefined, dockerHealthcheck: boolean): void {
    this.#url = url;
    this.#dockerHealthcheck = dockerHealthcheck;
  }

  /** The boot's gate decides at once (no thresholds): it waited for the app already. */
  bootGate(result: HealthProbeResult): void {
    this.#last = result;
    this.#failures = result.ok ? 0 : 1;
    this.#successes = result.ok ? 1 : 0;
    this.#enter(result.ok ? 'passing' : 'failing', result);
  }

  /**
   * One probe round after the boot. The state flips only after `failureThreshold` failed rounds
   * in a row (to failing) or `successThreshold` passed ones (back to passing). Returns the
   * transition when this round made one.
   */
  record(result: HealthProbeResult, thresholds: HealthThresholds): HealthTransition | undefined {
    this.#last = result;
    if (result.ok) {
      this.#successes++;
      this.#failures = 0;
      if (this.#status !== 'passing' && this.#successes >= thresholds.successThreshold)
        return this.#enter('passing', result);
    } else {
      this.#failures++;
      this.#successes = 0;
      if (this.#status !== 'failing' && this.#failures >= thresholds.failureThreshold)
        return this.#enter('failing', result);
    }
    return undefined;
  }

  /** Called on every transition (it must not throw) until the returned function is called. */
  subscribe(listener: HealthListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  get transitionCounts(): Readonly<Record<'passing' | 'failing', number>> {
    return { ...this.#counts };
  }

  toJSON(): HealthView {
    const last = this.#last;
    return {
      status: this.#status,
      since: this.#since === undefined ? null : new Date(this.#since).toISOString(),
      url: this.#url,
      dockerHealthcheck: this.#dockerHealthcheck,
      lastCheckedAt: last === undefined ? undefined : new Date(last.at).toISOString(),
      lastResult:
        last === undefined ? null : { at: new Date(last.at).toISOString(), ok: last.ok, detail: last.detail },
      consecutiveFailures: this.#failures,
      consecutiveSuccesses: this.#successes,
      transitions: [...this.#transitions],
      transitionCounts: this.transitionCounts,
    };
  }

  #enter(to: 'passing' | 'failing', result: HealthProbeResult): HealthTransition | undefined {
    if (this.#status === to) return undefined;
    const transition: HealthTransition = {
      at: new Date(result.at).toISOString(),
      from: this.#status,
      to,
      reason: result.detail,
    };
    this.#status = to;
    this.#since = result.at;
    this.#counts[to]++;
    this.#transitions.push(transition);
    if (this.#transitions.length > MAX_HEALTH_TRANSITIONS) this.#transitions.shift();
    for (const listener of this.#listeners) listener(to, transition);
    return transition;
  }
}
