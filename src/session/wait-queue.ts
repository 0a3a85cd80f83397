/**
 * One pool's fair wait queue (DESIGN.md §1, docs/failover.md "When the whole fleet is full").
 *
 * A segment that no provider can take right now waits here instead of being dropped. Every
 * provider the pool's calls may use feeds the queue: when a stream slot frees on any instance
 * of the pool, or a context frees on the fallback, `pump()` offers the capacity to the waiters
 * in order. Order, most urgent first:
 * 1. waiters whose caller has less than `patienceMs` of audio left to hear (silent, or about to
 *    be): by class (a turn that is already speaking, then first segments of new turns, then
 *    HTTP speech requests), FIFO within a class;
 * 2. then waiters whose caller still has at least `patienceMs` to hear: the one whose audio
 *    runs out first goes first (earliest deadline). A session whose caller is minutes ahead
 *    (a client sending 99,000 digits, issue 18) never outranks a caller who hears nothing.
 * A waiter's audio ahead shrinks while it waits, so it is read at every pump.
 *
 * The queue only orders and counts; each waiter decides where it may go (`offer`), because
 * that depends on its session's pin, exclusions and phase (pin-only, then anywhere).
 */

/** Priority classes, most urgent first. The `class` label of the queue metrics. */
export const WAIT_CLASSES = ['continuing', 'new_turn', 'http'] as const;
export type WaitClass = (typeof WAIT_CLASSES)[number];

export type LeaveOutcome = 'granted' | 'gave_up' | 'cancelled';

export interface Waiter {
  readonly class: WaitClass;
  /** performance.now() when it started waiting. */
  readonly since: number;
  /**
   * Milliseconds of audio its caller has been sent and not heard yet (real-time playback
   * assumed); 0 when the caller hears nothing now.
   */
  aheadMs(): number;
  /**
   * The instance its session is pinned to now (null: the fallback; absent: none), the one the
   * segment tries first. GET /admin/instances counts it there as `queued` (waitingFor).
   */
  readonly pinnedTo?: () => string | null;
  /**
   * Tries to take capacity now; true when it did (the queue then forgets it). A promise when
   * the slot store is shared (Redis, or the workers' primary): the pump waits for it before
   * offering the next waiter, so waiters are still served in grant order.
   */
  offer(): boolean | Promise<boolean>;
}

export interface WaitQueueOptions {
  /** Pool name (metric label). */
  readonly pool: string;
  /** Whether any capacity may be free anywhere this pool's calls can go (cheap pre-check). */
  readonly hasCapacity: () => boolean;
  /**
   * A waiter whose caller has at least this much audio left to hear waits behind every caller
   * with less (the pool's timeouts.first_audio_ms: with that much ahead, a stream started later
   * still speaks before the caller's audio runs out).
   */
  readonly patienceMs: number;
  /** Queue depth per class changed. Default: none. */
  readonly onDepth?: (klass: WaitClass, depth: number) => void;
  /** A waiter left the queue after `waitedMs`: it got a slot, gave up, or was cancelled. Default: none. */
  readonly onLeave?: (klass: WaitClass, waitedMs: number, outcome: LeaveOutcome) => void;
  /** Clock. Default performance.now. */
  readonly now?: () => number;
}

export class WaitQueue {
  readonly pool: string;
  private readonly lanes: Waiter[][] = WAIT_CLASSES.map(() => []);
  private readonly options: WaitQueueOptions;
  private pumping = false;
  private again = false;

  constructor(options: WaitQueueOptions) {
    this.options = options;
    this.pool = options.pool;
  }

  get size(): number {
    let n = 0;
    for (const lane of this.lanes) n += lane.length;
    return n;
  }

  depth(klass: WaitClass): number {
    return this.lanes[WAIT_CLASSES.indexOf(klass)]!.length;
  }

  /** How long the oldest waiter of any class has waited (0 when empty). */
  oldestWaitMs(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const lane of this.lanes) if (lane.length > 0 && lane[0]!.since < oldest) oldest = lane[0]!.since;
    return oldest === Number.POSITIVE_INFINITY ? 0 : this.now() - oldest;
  }

  /**
   * Waiters whose session is pinned to `instanceId` (GET /admin/instances `queued`). Only
   * waiters still queued count: one that got a slot, gave up or was cancelled left in remove().
   */
  waitingFor(instanceId: string): number {
    let n = 0;
    for (const lane of this.lanes) for (const waiter of lane) if (waiter.pinnedTo?.() === instanceId) n++;
    return n;
  }

  /** 1-based position in grant order, as the waiters' audio ahead stands now; 0 when not queued. */
  position(waiter: Waiter): number {
    const order = this.grantOrder();
    return order.indexOf(waiter) + 1;
  }

  /** Every waiter in grant order (see the file comment): urgent by class then FIFO, then by audio ahead. */
  private grantOrder(): Waiter[] {
    const urgent: Waiter[] = [];
    const patient: { waiter: Waiter; ahead: number }[] = [];
    const { patienceMs } = this.options;
    for (const lane of this.lanes) {
      for (const waiter of lane) {
        const ahead = waiter.aheadMs();
        if (ahead < patienceMs) urgent.push(waiter);
        else patient.push({ waiter, ahead });
      }
    }
    if (patient.length === 0) return urgent;
    patient.sort((a, b) => a.ahead - b.ahead);
    for (const p of patient) urgent.push(p.waiter);
    return urgent;
  }

  /** Queues `waiter` at the tail of its class and offers it whatever is free now. */
  enqueue(waiter: Waiter): void {
    const index = WAIT_CLASSES.indexOf(waiter.class);
    this.lanes[index]!.push(waiter);
    this.options.onDepth?.(waiter.class, this.lanes[index]!.length);
    this.pump();
  }

  /** Takes a waiter out (it got a slot, gave up, or was cancelled). False when it was not queued. */
  remove(waiter: Waiter, outcome: LeaveOutcome): boolean {
    const index = WAIT_CLASSES.indexOf(waiter.class);
    const lane = this.lanes[index]!;
    const at = lane.indexOf(waiter);
    if (at < 0) return false;
    lane.splice(at, 1);
    this.options.onDepth?.(waiter.class, lane.length);
    this.options.onLeave?.(waiter.class, this.now() - waiter.since, outcome);
    return true;
  }

  /**
   * Capacity may have freed: offer it to the waiters in order. A waiter that cannot use what
   * is free (its pin is full, its exclusions) is passed over and keeps its place. Re-entrant
   * calls (an offer that releases another slot) fold into the running pump.
   */
  pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    let async = false;
    try {
      do {
        this.again = false;
        if (this.size === 0 || !this.options.hasCapacity()) return;
        for (const waiter of this.grantOrder()) {
          if (!this.options.hasCapacity()) return;
          // Gone since the order was taken (an offer's release re-entered and served it).
          if (!this.queued(waiter)) continue;
          const offered = waiter.offer();
          if (typeof offered !== 'boolean') {
            // A shared store answers later: go on from the next waiter once it did.
            async = true;
            void this.pumpAsync(offered);
            return;
          }
        }
      } while (this.again);
    } finally {
      if (!async) this.pumping = false;
    }
  }

  /**
   * The pump with a shared store: one offer in flight at a time, in queue order. A waiter
   * that did not get a slot is skipped for the rest of this pass (its place is kept).
   */
  private async pumpAsync(first: Promise<boolean>): Promise<void> {
    const tried = new Set<Waiter>();
    try {
      await first.catch(() => false);
      let progress = true;
      while (progress || this.again) {
        // Capacity freed again since (a release here or on another replica): everyone may retry.
        if (progress || this.again) tried.clear();
        progress = false;
        this.again = false;
        for (const waiter of this.grantOrder()) {
          if (tried.has(waiter) || !this.queued(waiter)) continue;
          if (!this.options.hasCapacity()) return;
          tried.add(waiter);
          const got = await Promise.resolve(waiter.offer()).catch(() => false);
          if (got) progress = true;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private queued(waiter: Waiter): boolean {
    return this.lanes[WAIT_CLASSES.indexOf(waiter.class)]!.includes(waiter);
  }

  private now(): number {
    return this.options.now ? this.options.now() : performance.now();
  }
}
