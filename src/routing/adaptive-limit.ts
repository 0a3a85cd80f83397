/**
 * One instance's stream limit, learned from its time to first audio (`pools[].capacity.mode:
 * adaptive`; docs/routing.md, "Adaptive capacity"). The rule is AIMD with a latency band, the
 * shape of Envoy's adaptive concurrency filter and Netflix's concurrency-limits:
 *
 * - The unloaded baseline is the median first audio of a window run at the minimum limit: at
 *   the start (the limit starts at `min` and grows), and again every BASELINE_INTERVAL_MS, when
 *   the limit is held at `min` for one window (Envoy pins its concurrency the same way), so the
 *   baseline follows a model or card that changed.
 * - Each window (WINDOW_MS, decided on the first sample after it ends), with the window's
 *   median first audio `m`:
 *   - the server said it is full (429/503) → multiplicative decrease (×0.75), and no growth back
 *     to the limit it refused at for OVERFLOW_MEMORY_MS;
 *   - `m` above the target (`target_first_audio_ms`, default 1.5 × baseline) → one stream less;
 *   - `m` within GROW_BAND × baseline and the limit was reached in the window → one stream more;
 *   - otherwise → hold.
 * Why AIMD with a band rather than a pure gradient: a GPU's first audio grows stepwise with its
 * streams (a few comfortable, then each one slows all), so a band between "near the baseline"
 * and "over the target" gives a limit that rests on one value instead of oscillating between two
 * every window; and a 429/503 is an unambiguous signal that deserves a fast cut.
 *
 * With a `store` (cluster.redis_url; limit-store.ts) each window's step is also applied to the
 * instance's one shared limit, and the value the store returns is adopted: every replica ends on
 * the same limit. The local step stands at once, and alone while the store does not answer.
 */
import type { LimitStep, LimitStore } from './limit-store.ts';

export type LimitReason = 'latency' | 'overflow' | 'headroom' | 'baseline' | 'shared';

/** A decision is made per window of this length. */
export const WINDOW_MS = 1000;
/** Growth only while first audio stays within this factor of the baseline. */
export const GROW_BAND = 1.25;
/** The default target: this factor of the baseline. */
export const DEFAULT_TARGET_FACTOR = 1.5;
/** The baseline is measured again this often (one window at the minimum limit). */
export const BASELINE_INTERVAL_MS = 60_000;
/** After a 429/503 at limit L, the limit stays below L this long. */
export const OVERFLOW_MEMORY_MS = 30_000;

export interface AdaptiveLimitOptions {
  /** Lowest limit. */
  readonly min: number;
  /** Highest limit (max_concurrency by default). */
  readonly max: number;
  /** First audio above this shrinks the limit; 0 = DEFAULT_TARGET_FACTOR × the baseline. */
  readonly targetFirstAudioMs: number;
  /**
   * The limit moved (`shared`: another replica moved the shared limit), or a baseline was
   * measured (`baseline`, also when the limit stays). Default: none.
   */
  readonly onChange?: (limit: number, reason: LimitReason, detail: { baselineMs: number; medianMs: number }) => void;
  /** Where the limit is shared between replicas (cluster.redis_url). Default: none, in process only. */
  readonly store?: LimitStore;
  /** This instance's key in the store (`<pool>/<instance>`). Required with `store`. */
  readonly storeKey?: string;
}

export class AdaptiveLimit {
  private current: number;
  private baselineMs = 0;
  private readonly samples: number[] = [];
  private windowStart = -1;
  private peakInFlight = 0;
  private overflowSeen = false;
  private ceiling = Number.POSITIVE_INFINITY;
  private ceilingUntil = 0;
  /** Measuring the baseline: the limit is held at min until this window ends. */
  private measuring = true;
  private nextBaselineAt = 0;
  private held = 0;

  constructor(private readonly options: AdaptiveLimitOptions) {
    this.current = options.min;
  }

  /** Streams the instance takes now. */
  get limit(): number {
    return this.current;
  }

  /** The unloaded first audio (ms); 0 before the first measurement. */
  get baseline(): number {
    return this.baselineMs;
  }

  /** Streams in flight on the instance now (after a stream starts). */
  inFlight(n: number): void {
    if (n > this.peakInFlight) this.peakInFlight = n;
  }

  /**
   * A request's time to first audio, and how many streams the instance had when it started:
   * while the baseline is measured only requests started at the minimum count.
   */
  firstAudio(ms: number, inFlightAtStart: number, now: number): void {
    if (!this.measuring || inFlightAtStart <= this.options.min) this.samples.push(ms);
    this.tick(now);
  }

  /** The instance said it is full (429/503). */
  overflow(now: number): void {
    this.overflowSeen = true;
    this.tick(now);
  }

  private tick(now: number): void {
    if (this.windowStart < 0) {
      this.windowStart = now;
      this.nextBaselineAt = now + BASELINE_INTERVAL_MS;
      return;
    }
    if (now - this.windowStart < WINDOW_MS) return;
    this.decide(now);
    this.windowStart = now;
    this.samples.length = 0;
    this.peakInFlight = 0;
    this.overflowSeen = false;
  }

  private decide(now: number): void {
    const { min, max } = this.options;
    const median = this.samples.length > 0 ? medianOf(this.samples) : NaN;
    if (this.measuring) {
      if (Number.isNaN(median)) return;
      this.measuring = false;
      this.baselineMs = median;
      this.nextBaselineAt = now + BASELINE_INTERVAL_MS;
      this.set(this.held > 0 ? this.held : this.current, 'baseline', median);
      this.held = 0;
      this.share('hold', this.current, this.bound(now), median);
      return;
    }
    if (now >= this.ceilingUntil) this.ceiling = Number.POSITIVE_INFINITY;
    const target = this.options.targetFirstAudioMs > 0 ? this.options.targetFirstAudioMs : DEFAULT_TARGET_FACTOR * this.baselineMs;
    const from = this.current;
    let step: LimitStep = 'hold';
    if (this.overflowSeen) {
      this.ceiling = this.current - 1;
      this.ceilingUntil = now + OVERFLOW_MEMORY_MS;
      step = 'cut';
      this.set(Math.max(min, Math.floor(this.current * 0.75)), 'overflow', median);
    } else if (median > target) {
      step = 'shrink';
      this.set(Math.max(min, this.current - 1), 'latency', median);
    } else if (median <= GROW_BAND * this.baselineMs && this.peakInFlight >= this.current && this.current < Math.min(max, this.ceiling)) {
      step = 'grow';
      this.set(this.current + 1, 'headroom', median);
    }
    this.share(step, from, this.bound(now), median);
    if (now >= this.nextBaselineAt && this.current > min) {
      // Measure the unloaded baseline again: one window at the minimum (the shared limit stays;
      // what the store answers meanwhile is the limit this window ends on).
      this.measuring = true;
      this.held = this.current;
      this.current = min;
    }
  }

  /** The highest limit now: max, lowered for a while after a 429/503. */
  private bound(now: number): number {
    const ceiling = now >= this.ceilingUntil ? Number.POSITIVE_INFINITY : this.ceiling;
    return Math.max(this.options.min, Math.min(this.options.max, ceiling));
  }

  /** Applies the window's step to the shared limit, and adopts the value it returns. */
  private share(step: LimitStep, from: number, ceiling: number, median: number): void {
    const { store, storeKey } = this.options;
    if (!store || storeKey === undefined) return;
    void store.apply(storeKey, { step, from, min: this.options.min, max: ceiling }).then((shared) => {
      if (shared === null) return;
      if (this.measuring) this.held = shared;
      else if (shared !== this.current) this.set(shared, 'shared', median);
    });
  }

  private set(limit: number, reason: LimitReason, median: number): void {
    if (limit === this.current && reason !== 'baseline') return;
    this.current = limit;
    this.options.onChange?.(limit, reason, { baselineMs: this.baselineMs, medianMs: median });
  }
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
