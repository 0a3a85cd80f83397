/**
 * Passive health (outlier ejection): consecutive failures of real traffic eject an instance for
 * a while; each repeat doubles the time up to a ceiling. Pure bookkeeping with an injected
 * clock; instance-health.ts owns the timers, the half-open probe and the transitions.
 */

export interface EjectionOptions {
  /** Consecutive failures that eject (pool.health.eject_after; config default 3). */
  readonly ejectAfter: number;
  /** First ejection length (pool.health.eject_base_ms; default 5000). */
  readonly baseMs: number;
  /** Longest ejection (pool.health.eject_max_ms; default 60000). Also the quiet time after
   * which the doubling starts over from baseMs. */
  readonly maxMs: number;
}

export class PassiveEjection {
  /** Consecutive failures since the last success or ejection. */
  private failures = 0;
  /** Ejections in the current streak (drives the doubling). */
  private streak = 0;
  private isEjected = false;
  private ejectedUntil = 0;
  private lastRestoredAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: EjectionOptions) {}

  get ejected(): boolean {
    return this.isEjected;
  }

  /** When the current ejection ends (clock ms); meaningful while ejected. */
  get until(): number {
    return this.ejectedUntil;
  }

  /** Counts a failure. Returns the ejection length in ms when this failure ejects, else 0. */
  failure(now: number): number {
    if (this.isEjected) return 0;
    if (++this.failures < this.options.ejectAfter) return 0;
    if (now - this.lastRestoredAt >= this.options.maxMs) this.streak = 0;
    const ms = Math.min(this.options.maxMs, this.options.baseMs * 2 ** this.streak);
    this.streak++;
    this.failures = 0;
    this.isEjected = true;
    this.ejectedUntil = now + ms;
    return ms;
  }

  success(): void {
    this.failures = 0;
  }

  /** The ejection time is over. */
  expired(now: number): boolean {
    return this.isEjected && now >= this.ejectedUntil;
  }

  /**
   * Another replica ejected this instance for `ms` (cluster/instance-state.ts): eject here too,
   * for the rest of that time, without counting a failure. False when already ejected.
   */
  adopt(now: number, ms: number): boolean {
    if (this.isEjected) return false;
    this.failures = 0;
    this.isEjected = true;
    this.ejectedUntil = now + ms;
    return true;
  }

  /** A half-open probe failed: open again for the next, doubled, length. Returns it in ms. */
  reopen(now: number): number {
    const ms = Math.min(this.options.maxMs, this.options.baseMs * 2 ** this.streak);
    this.streak++;
    this.ejectedUntil = now + ms;
    return ms;
  }

  restore(now: number): void {
    this.isEjected = false;
    this.failures = 0;
    this.lastRestoredAt = now;
  }
}
