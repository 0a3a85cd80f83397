/**
 * One instance's health as a state machine (docs/routing.md "Health"): active checks counted
 * into up/down (rise/fall), passive ejection from real traffic (breaker.ts does the counting
 * and the doubling), and the half-open probe that ends an ejection. Every change is one typed
 * transition; the pool turns it into gauges, an InstanceEvent and capacity for the wait queue.
 *
 *   up ──fall fails──▶ down ──rise passes──▶ up            (active checks)
 *   * ──eject_after failures──▶ ejected ──time over + probe synthesizes──▶ restored
 *                               ejected ──time over + probe fails──▶ ejected (doubled)
 */
import type { Backend } from '../backends/backend.ts';
import type { HealthConfig } from '../config.ts';
import { PassiveEjection } from './breaker.ts';
import { ActiveHealthCheck } from './health.ts';

/** One change of an instance's health. */
export type HealthTransition =
  /** Active checks passed `rise` times in a row after being down. */
  | { readonly type: 'up' }
  /** Active checks failed `fall` times in a row; `reason` is the last check's error. */
  | { readonly type: 'down'; readonly reason: string }
  /** Ejected for `durationMs`: after `eject_after` failures (`reason`: the last one's BackendError code), by a peer, or a failed probe. */
  | { readonly type: 'ejected'; readonly reason: string; readonly durationMs: number }
  /** The ejection ended: its time passed and the half-open probe had first audio. */
  | { readonly type: 'restored' };

export interface InstanceHealthOptions {
  /** The pool's health settings (pools[].health; defaults in config.ts). */
  readonly health: HealthConfig;
  /** The active check: resolves when healthy, throws otherwise (Backend.check). */
  readonly check: (signal: AbortSignal) => Promise<void>;
  /** The half-open probe: true when one short real synthesis had first audio in time. */
  readonly probe: () => Promise<boolean>;
  /** Every transition, after the state changed. */
  readonly onTransition: (transition: HealthTransition) => void;
  /** Clock for ejection bookkeeping. Default Date.now. */
  readonly now?: () => number;
  /**
   * True while the gateway itself is overloaded (its event loop lags): timeouts are then not
   * held against the instance. Default: never overloaded.
   */
  readonly overloaded?: () => boolean;
}

export class InstanceHealth {
  private activeUp = true;
  private passes = 0;
  private fails = 0;
  private readonly ejection: PassiveEjection;
  private checker: ActiveHealthCheck | null = null;
  private ejectTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private readonly now: () => number;
  private readonly overloaded: () => boolean;
  private readonly onEjectionOver = (): void => this.ejectionOver();

  constructor(private readonly options: InstanceHealthOptions) {
    const { eject_after, eject_base_ms, eject_max_ms } = options.health;
    this.ejection = new PassiveEjection({ ejectAfter: eject_after, baseMs: eject_base_ms, maxMs: eject_max_ms });
    this.now = options.now ?? Date.now;
    this.overloaded = options.overloaded ?? (() => false);
  }

  /** Active checks say up. Optimistic: up before the first check (docs/routing.md). */
  get up(): boolean {
    return this.activeUp;
  }

  get ejected(): boolean {
    return this.ejection.ejected;
  }

  /** Up and not ejected. */
  get healthy(): boolean {
    return this.activeUp && !this.ejection.ejected;
  }

  /** While ejected: the clock time (`now`) the ejection may end at. */
  get ejectedUntil(): number {
    return this.ejection.until;
  }

  /** Starts the active checks: one now, then every health.interval_ms. Once; not after stop(). */
  startChecks(): void {
    if (this.checker || this.stopped) return;
    const { interval_ms, timeout_ms } = this.options.health;
    this.checker = new ActiveHealthCheck({ intervalMs: interval_ms, timeoutMs: timeout_ms, check: this.options.check, onResult: (ok, error) => this.checkResult(ok, error) });
    this.checker.start();
  }

  /** One active check result: rise/fall counting. */
  checkResult(ok: boolean, error: unknown): void {
    if (this.stopped) return;
    const { rise, fall } = this.options.health;
    if (ok) {
      this.fails = 0;
      this.passes++;
      if (!this.activeUp && this.passes >= rise) {
        this.activeUp = true;
        this.options.onTransition({ type: 'up' });
      }
    } else {
      this.passes = 0;
      this.fails++;
      if (this.activeUp && this.fails >= fall) {
        this.activeUp = false;
        this.options.onTransition({ type: 'down', reason: error instanceof Error ? error.message : String(error) });
      }
    }
  }

  /** A real request failed with `kind` (its BackendError code); `eject_after` in a row eject. */
  failure(kind: string): void {
    // Our own cancellation and a refusal of our input say nothing about the instance; nor
    // does a timeout while our own event loop lags (the audio may be unread in our socket).
    if (kind === 'aborted' || kind === 'http_4xx' || this.stopped) return;
    if (kind === 'timeout' && this.overloaded()) return;
    const ms = this.ejection.failure(this.now());
    if (ms === 0) return;
    this.eject(kind, ms);
  }

  /** A real request succeeded: the consecutive-failure count starts over. */
  success(): void {
    this.ejection.success();
  }

  /**
   * Another replica ejected the instance for `ms` (cluster/instance-state.ts): ejected here for
   * that long too, then the same half-open probe. False when stopped or already ejected.
   */
  adoptEjection(ms: number, reason: string): boolean {
    if (this.stopped || !this.ejection.adopt(this.now(), ms)) return false;
    this.eject(reason, ms);
    return true;
  }

  /** Checks, probe and timers off; no transition after this. Idempotent. */
  stop(): void {
    this.stopped = true;
    this.checker?.stop();
    this.checker = null;
    if (this.ejectTimer) clearTimeout(this.ejectTimer);
    this.ejectTimer = null;
  }

  private eject(reason: string, ms: number): void {
    this.options.onTransition({ type: 'ejected', reason, durationMs: ms });
    if (this.ejectTimer) clearTimeout(this.ejectTimer);
    this.ejectTimer = setTimeout(this.onEjectionOver, ms);
    this.ejectTimer.unref?.();
  }

  /**
   * Ejection time is over: the breaker goes half-open. One short real synthesis decides:
   * first audio closes it (the instance takes traffic again), anything else opens it again
   * for a doubled time. A health endpoint can answer while synthesis fails; this cannot.
   */
  private ejectionOver(): void {
    this.ejectTimer = null;
    if (this.stopped || !this.ejection.ejected) return;
    void this.options.probe().then((ok) => {
      if (this.stopped || !this.ejection.ejected) return;
      if (ok) {
        this.ejection.restore(this.now());
        this.options.onTransition({ type: 'restored' });
        return;
      }
      this.eject('half-open probe failed', this.ejection.reopen(this.now()));
    });
  }
}

/** The half-open probe's text: short, so it costs the GPU almost nothing. */
export const PROBE_TEXT = 'Hello.';

/** True when the backend yields first audio for PROBE_TEXT within `timeoutMs`. */
export async function probeSynthesis(backend: Backend, voice: string, timeoutMs: number): Promise<boolean> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    for await (const _audio of backend.synthesize({ text: PROBE_TEXT, voice }, controller.signal)) return true;
    return false;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
