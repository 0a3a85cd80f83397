import { SESSION_DEFAULTS } from '../config.ts';

/**
 * A retry budget (as in Envoy and Finagle): retries may be at most `ratio` of requests over a
 * sliding window, with a floor of `minPerSecond × windowSeconds` retries per window so a quiet
 * gateway can still fail over. It keeps a sick fleet from being hammered by every session
 * retrying at once.
 *
 * Counting is per whole second in a ring of buckets: O(1) per request, no allocation.
 */

export interface RetryBudgetOptions {
  /** Retries allowed as a share of requests in the window. Default session.retry_budget.ratio (0.2). */
  ratio?: number;
  /**
   * The floor, as a rate: `minPerSecond × windowSeconds` retries are allowed in each window
   * whatever the traffic (they may all come in one second of it): a floor per window, named
   * as a rate so it scales with the window. Default session.retry_budget.min_per_second (3).
   */
  minPerSecond?: number;
  /** Window length in seconds. Default session.retry_budget.window_s (10). */
  windowSeconds?: number;
  /** Clock in ms. Default performance.now. */
  now?: () => number;
}

export class RetryBudget {
  private readonly ratio: number;
  private readonly minPerSecond: number;
  private readonly window: number;
  private readonly now: () => number;
  private readonly requests: Uint32Array;
  private readonly retries: Uint32Array;
  private currentSecond = -1;
  private requestSum = 0;
  private retrySum = 0;

  constructor(options: RetryBudgetOptions = {}) {
    const defaults = SESSION_DEFAULTS.retry_budget;
    this.ratio = options.ratio ?? defaults.ratio;
    this.minPerSecond = options.minPerSecond ?? defaults.min_per_second;
    this.window = options.windowSeconds ?? defaults.window_s;
    this.now = options.now ?? (() => performance.now());
    this.requests = new Uint32Array(this.window);
    this.retries = new Uint32Array(this.window);
  }

  private advance(): number {
    const second = Math.floor(this.now() / 1000);
    if (this.currentSecond === -1) this.currentSecond = second;
    // Clear the buckets that slid out of the window since the last call.
    const steps = Math.min(second - this.currentSecond, this.window);
    for (let i = 1; i <= steps; i++) {
      const slot = (this.currentSecond + i) % this.window;
      this.requestSum -= this.requests[slot]!;
      this.retrySum -= this.retries[slot]!;
      this.requests[slot] = 0;
      this.retries[slot] = 0;
    }
    if (second > this.currentSecond) this.currentSecond = second;
    return second % this.window;
  }

  /** Counts a first attempt. */
  request(): void {
    const slot = this.advance();
    this.requests[slot]!++;
    this.requestSum++;
  }

  /** Takes a retry from the budget; false when the budget is spent (do not retry). */
  tryRetry(): boolean {
    const slot = this.advance();
    const allowed = Math.max(this.minPerSecond * this.window, this.ratio * this.requestSum);
    if (this.retrySum + 1 > allowed) return false;
    this.retries[slot]!++;
    this.retrySum++;
    return true;
  }

  /** Retries taken in the current window (for tests and metrics). */
  get retriesInWindow(): number {
    this.advance();
    return this.retrySum;
  }
}
