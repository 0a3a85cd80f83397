/**
 * Where a session's segments are synthesized (DESIGN.md §1, docs/failover.md): the one owner of
 * the session's pin, its candidate order, fallback contexts, the retry budget and the wait.
 *
 * For each attempt of a segment: the pin (waiting up to the pool's `queue_ms` for a slot there,
 * unless it is full at a learned adaptive limit below its cap: see heldBelowCap), else the next
 * candidate in the session's hash order, else the fallback, else a place in the pool's fair wait
 * queue until any of them frees a slot, up to `session.max_wait_ms`. Nothing is
 * dropped because every slot is busy right now.
 *
 * What it hands out is a Grant (grant.ts): the caller owns the slot and releases it once.
 */
import type { BackendError } from '../backends/backend.ts';
import type { TimeoutsConfig } from '../config.ts';
import type { Instance, Router, Slot } from '../routing/router.ts';
import type { FallbackSlots } from './fallback.ts';
import { FALLBACK_PROVIDER } from './fallback.ts';
import { once, type Grant, type MoveReason } from './grant.ts';
import type { RetryBudget } from './retry-budget.ts';
import type { LeaveOutcome, WaitClass, WaitQueue, Waiter } from './wait-queue.ts';

/**
 * A backend that says it is full (429, 503) gets a short local cool-down: no new streams there
 * for its Retry-After, or this long when it names none. Not a key: it only spaces out retries of
 * a full server, and the wait queue, not this, decides how long a segment waits.
 */
export const DEFAULT_OVERFLOW_COOLDOWN_MS = 250;
/** Retry-After is honoured up to this: a server asking for minutes is handled by health checks. */
export const MAX_OVERFLOW_COOLDOWN_MS = 5000;
/**
 * Candidates walked per placement: the full order at N = 1000 costs ~54 µs p50 against ~1 µs for
 * the first three (bench/routing.ts, bench/RESULTS.md "Routing"); 8 leaves room for exclusions.
 */
const CANDIDATE_WALK = 8;

export interface PlacementOptions {
  /** Pinning key (session_id or connection id). */
  readonly key: string;
  readonly router: Router;
  /** The pool's wait queue. */
  readonly queue: WaitQueue;
  readonly fallback: FallbackSlots | null;
  /** Gateway-wide retry budget for moves after a failure to another instance. Null: unlimited. */
  readonly retryBudget: RetryBudget | null;
  /** The pool's first-audio and stall deadlines, for attempts on its instances. */
  readonly timeouts: TimeoutsConfig;
  /** The pool voice (the fallback maps it). */
  readonly voice: string;
  /**
   * What the pool's instances are asked to speak: the pool voice, or for a Cartesia pool the
   * id its `options.voice_map` names (factory.ts maps it once). Default: `voice`.
   */
  readonly instanceVoice?: string;
  /** Pool `queue_ms`: how long a first attempt waits for its own pin before spilling. */
  readonly queueMs: number;
  /** `session.max_wait_ms`: how long a segment waits for any capacity before it gives up. */
  readonly maxWaitMs: number;
  /** A wait longer than this (the pool's first_audio_ms) is told to the client. */
  readonly waitingNoticeMs: number;
  /** `session.return_after_spill`: a spill borrows (true) or moves the session (false). */
  readonly returnAfterSpill: boolean;
  /** The session's pin changed. Default: none. */
  readonly onRepin?: (to: Instance | null) => void;
}

export interface PlaceRequest {
  readonly klass: WaitClass;
  readonly signal: AbortSignal;
  /** Providers that failed this segment (instance ids, `cartesia`). */
  readonly excluded: ReadonlySet<string>;
  /** The provider that just failed this segment and why; null for a first attempt. */
  readonly failure: { readonly from: string; readonly reason: MoveReason } | null;
  /** The segment has waited longer than waitingNoticeMs; position is 1-based. */
  readonly onWaiting?: (position: number) => void;
  /** Audio the session's caller has not heard yet, ms (ranks the waiter: wait-queue.ts). Default: none ahead. */
  readonly aheadMs?: () => number;
}

export interface Placed {
  readonly grant: Grant;
  /** Set when the segment goes anywhere but the session's pin (or moves after a failure). */
  readonly move: { readonly from: string; readonly reason: MoveReason } | null;
}

/** Why no slot came: the fleet stayed full past max_wait_ms, or no provider is left at all. */
export type PlaceFailure = 'saturated' | 'no_provider';

export class Placement {
  private current: Instance | null;
  private closed = false;

  constructor(
    private readonly options: PlacementOptions,
    pin: Instance | null,
  ) {
    this.current = pin;
  }

  /** The instance the session is pinned to; null = it lives on the fallback. */
  get pin(): Instance | null {
    return this.current;
  }

  /** The pin's id, or `cartesia`. */
  get pinId(): string {
    return this.current?.id ?? FALLBACK_PROVIDER;
  }

  /**
   * A slot for one attempt. Resolves `saturated` when nothing freed within max_wait_ms, and
   * `no_provider` at once when no provider is left that could ever take the segment (every one
   * failed it, is down, or there is none): waiting would not help. Rejects with the signal's
   * reason when it aborts while waiting.
   */
  place(request: PlaceRequest): Promise<Placed | PlaceFailure> {
    const { signal } = request;
    if (signal.aborted) return Promise.reject(signal.reason);
    if (request.failure === null) this.options.retryBudget?.request();
    const pin = this.current;
    const pinFirst = request.failure === null && this.options.queueMs > 0 && pin !== null && pin.healthy && !heldBelowCap(pin);
    if (this.options.router.sharedSlots) return this.placeShared(request, pinFirst);
    const now = this.tryPlace(request, pinFirst);
    if (now) return Promise.resolve(now);
    if (!this.anyProviderLeft(request.excluded)) return Promise.resolve('no_provider');
    return this.wait(request, pinFirst);
  }

  /** place() with a shared slot store: one store call (one Redis round trip) per look. */
  private async placeShared(request: PlaceRequest, pinFirst: boolean): Promise<Placed | PlaceFailure> {
    const now = await this.tryPlaceShared(request, pinFirst);
    if (now) return now;
    if (request.signal.aborted) throw request.signal.reason;
    if (!this.anyProviderLeft(request.excluded)) return 'no_provider';
    return this.wait(request, pinFirst);
  }

  /** Whether some provider, busy or not, could still take a segment that `excluded` failed. */
  private anyProviderLeft(excluded: ReadonlySet<string>): boolean {
    if (this.options.fallback && !excluded.has(FALLBACK_PROVIDER)) return true;
    for (const inst of this.options.router.instances) if (inst.healthy && !excluded.has(inst.id)) return true;
    return false;
  }

  /**
   * A finished attempt: feeds passive health, the cool-down of full servers, and (when it had
   * first audio after `firstAudioMs`) the instance's adaptive limit.
   */
  report(grant: Grant, error: BackendError | null, firstAudioMs?: number): void {
    const instance = grant.instance;
    if (!instance) return;
    const router = this.options.router;
    if (firstAudioMs !== undefined) router.reportFirstAudio(instance, firstAudioMs, grant.inFlightAtStart);
    if (error === null) return router.reportSuccess(instance);
    if (isOverflow(error)) {
      // Full, not broken: no ejection, a short pause before the next stream there.
      const ms = Math.min(MAX_OVERFLOW_COOLDOWN_MS, error.retryAfterMs ?? DEFAULT_OVERFLOW_COOLDOWN_MS);
      router.coolDown(instance, ms);
      return;
    }
    router.reportFailure(instance, error.code);
  }

  /** The session ended: its pin is released. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.current) this.options.router.release(this.options.key, this.current);
  }

  private wait(request: PlaceRequest, pinFirst: boolean): Promise<Placed | PlaceFailure> {
    const { queue, queueMs, maxWaitMs, waitingNoticeMs } = this.options;
    const { signal } = request;
    return new Promise<Placed | PlaceFailure>((resolve, reject) => {
      let pinOnly = pinFirst;
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      const since = performance.now();
      const settle = (outcome: LeaveOutcome): boolean => {
        if (settled) return false;
        settled = true;
        for (const timer of timers) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        queue.remove(waiter, outcome);
        return true;
      };
      const waiter: Waiter = {
        class: request.klass,
        since,
        aheadMs: request.aheadMs ?? nothingAhead,
        pinnedTo: () => this.current?.id ?? null,
        offer: () => {
          if (settled) return false;
          if (this.options.router.sharedSlots) {
            return this.tryPlaceShared(request, pinOnly).then((placed) => {
              if (!placed) return false;
              // Gave up or aborted while the store answered: the slot goes back.
              if (!settle('granted')) {
                placed.grant.release();
                return false;
              }
              resolve(placed);
              return true;
            });
          }
          const placed = this.tryPlace(request, pinOnly);
          if (!placed) return false;
          settle('granted');
          resolve(placed);
          return true;
        },
      };
      const onAbort = (): void => {
        if (settle('cancelled')) reject(signal.reason);
      };
      const giveUp = (): void => {
        if (settle('gave_up')) resolve('saturated');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (pinOnly) {
        timers.push(
          setTimeout(() => {
            // queue_ms is over: anywhere with room will do now.
            pinOnly = false;
            if (!waiter.offer() && performance.now() - since >= maxWaitMs) giveUp();
          }, queueMs),
        );
      }
      if (maxWaitMs >= (pinOnly ? queueMs : 0)) timers.push(setTimeout(giveUp, maxWaitMs));
      if (request.onWaiting && waitingNoticeMs < maxWaitMs) {
        const onWaiting = request.onWaiting;
        timers.push(setTimeout(() => !settled && onWaiting(queue.position(waiter)), waitingNoticeMs));
      }
      queue.enqueue(waiter);
      // max_wait_ms 0 with no pin phase: one look (enqueue's pump), then give up.
      if (!settled && !pinOnly && maxWaitMs <= 0) giveUp();
    });
  }

  /** One look for a slot, in preference order; null when none is free now. */
  private tryPlace(request: PlaceRequest, pinOnly: boolean): Placed | null {
    const { router, fallback } = this.options;
    const { excluded, failure } = request;
    const pin = this.current;
    const pinId = this.pinId;

    if (pin === null) {
      // The session lives on the fallback: there first, else back to the fleet.
      if (fallback && !excluded.has(FALLBACK_PROVIDER)) {
        const grant = fallback.tryAcquire(this.options.voice, this.options.router.pool);
        if (grant) return { grant, move: failure };
      }
      const back = this.candidate(excluded, null, failure);
      if (!back) return null;
      this.repin(back.instance);
      return { grant: back, move: failure ?? { from: FALLBACK_PROVIDER, reason: 'restored' } };
    }

    const pinUsable = !excluded.has(pin.id);
    if (pinUsable && pin.healthy) {
      const slot = router.tryAcquire(pin);
      if (slot) return { grant: this.instanceGrant(pin, slot), move: failure };
      if (pinOnly) return null;
    }
    // Why the segment leaves its pin: its own failure, else the pin's state.
    const reason: MoveReason = failure?.reason ?? (!pin.healthy ? (pin.ejected ? 'ejected' : 'unhealthy') : 'overflow');
    const from = failure?.from ?? pinId;
    // A spill only borrows: the pin is fine, just full (or full by its own say: 429/503).
    const spill = reason === 'overflow' && pin.healthy;
    const other = this.candidate(excluded, pin, failure);
    if (other) {
      if (!spill || !this.options.returnAfterSpill) this.repin(other.instance);
      return { grant: other, move: { from, reason } };
    }
    if (fallback && !excluded.has(FALLBACK_PROVIDER)) {
      const grant = fallback.tryAcquire(this.options.voice, this.options.router.pool);
      if (grant) {
        if (!spill || !this.options.returnAfterSpill) this.repin(null);
        return { grant, move: { from, reason } };
      }
    }
    return null;
  }

  /**
   * tryPlace with a shared slot store: the pin and the candidates go to the store in one
   * acquireFirst (the pin first), so a look costs one round trip however many are full.
   */
  private async tryPlaceShared(request: PlaceRequest, pinOnly: boolean): Promise<Placed | null> {
    const { router, fallback, retryBudget } = this.options;
    const { excluded, failure } = request;
    const pin = this.current;
    const pinId = this.pinId;
    if (pin === null) {
      if (fallback && !excluded.has(FALLBACK_PROVIDER)) {
        const grant = fallback.tryAcquire(this.options.voice, router.pool);
        if (grant) return { grant, move: failure };
      }
      const slot = await router.acquireFirst(router.candidates(this.options.key, excluded, CANDIDATE_WALK));
      if (!slot) return null;
      if (this.current !== null) return { grant: this.instanceGrant(slot.instance, slot), move: failure };
      this.repin(slot.instance);
      return { grant: this.instanceGrant(slot.instance, slot), move: failure ?? { from: FALLBACK_PROVIDER, reason: 'restored' } };
    }
    const pinUsable = !excluded.has(pin.id) && pin.healthy;
    if (pinOnly && !pinUsable) return null;
    const walk: Instance[] = pinUsable ? [pin] : [];
    if (!pinOnly) for (const candidate of router.candidates(this.options.key, excluded, CANDIDATE_WALK)) if (candidate !== pin) walk.push(candidate);
    const slot = walk.length > 0 ? await router.acquireFirst(walk) : null;
    if (slot && slot.instance === pin) return { grant: this.instanceGrant(pin, slot), move: failure };
    if (pinOnly && !slot) return null;
    const reason: MoveReason = failure?.reason ?? (!pin.healthy ? (pin.ejected ? 'ejected' : 'unhealthy') : 'overflow');
    const from = failure?.from ?? pinId;
    const spill = reason === 'overflow' && pin.healthy;
    if (slot) {
      // A retry after a real failure spends the budget; a full server's overflow does not.
      if (failure && failure.reason !== 'overflow' && retryBudget && !retryBudget.tryRetry()) {
        slot.release();
        return null;
      }
      if ((!spill || !this.options.returnAfterSpill) && this.current === pin) this.repin(slot.instance);
      return { grant: this.instanceGrant(slot.instance, slot), move: { from, reason } };
    }
    if (fallback && !excluded.has(FALLBACK_PROVIDER)) {
      const grant = fallback.tryAcquire(this.options.voice, router.pool);
      if (grant) {
        if ((!spill || !this.options.returnAfterSpill) && this.current === pin) this.repin(null);
        return { grant, move: { from, reason } };
      }
    }
    return null;
  }

  /** The first candidate (not `skip`, not excluded) with a free slot now. */
  private candidate(excluded: ReadonlySet<string>, skip: Instance | null, failure: PlaceRequest['failure']): (Grant & { instance: Instance }) | null {
    const { router, retryBudget } = this.options;
    for (const candidate of router.candidates(this.options.key, excluded, CANDIDATE_WALK)) {
      if (candidate === skip) continue;
      const slot = router.tryAcquire(candidate);
      if (!slot) continue;
      // A retry after a real failure spends the budget; a full server's overflow does not.
      if (failure && failure.reason !== 'overflow' && retryBudget && !retryBudget.tryRetry()) {
        slot.release();
        return null;
      }
      return this.instanceGrant(candidate, slot);
    }
    return null;
  }

  private instanceGrant(instance: Instance, slot: Slot): Grant & { instance: Instance } {
    return { provider: instance.id, backend: instance.backend, timeouts: this.options.timeouts, voice: this.options.instanceVoice ?? this.options.voice, instance, inFlightAtStart: slot.inFlightAtStart, release: once(() => slot.release()) };
  }

  private repin(to: Instance | null): void {
    const from = this.current;
    if (from === to) return;
    const { router, key } = this.options;
    if (to) router.repin(key, from, to);
    else if (from) router.release(key, from);
    this.current = to;
    this.options.onRepin?.(to);
  }
}

/**
 * The pin is full at a learned limit below its max_concurrency (pools[].capacity.mode adaptive):
 * the limit sits there because more streams slowed its first audio, so a slot there frees no
 * sooner than anywhere else, and waiting queue_ms for it only adds queue_ms to first audio. Such a
 * segment spills at once. A pin full at its configured cap (fixed mode, or a learned limit that
 * reached the cap) is waited for: the operator's queue_ms trades that wait for keeping the pin.
 */
function heldBelowCap(pin: Instance): boolean {
  return pin.limit < pin.maxConcurrency && pin.streams >= pin.limit;
}

/** A server that says it is full: 429, or 503 (queue full / over capacity). */
export function isOverflow(error: BackendError): boolean {
  return error.code === 'http_429' || (error.code === 'http_5xx' && error.status === 503) || error.overflow === true;
}

const nothingAhead = (): number => 0;
