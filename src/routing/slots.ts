/**
 * Stream slots: the one shape of "may this process open one more synthesis stream on that
 * instance now" (issue #17 "Routing", issue #19 item 1). Implementations beside it:
 *   - LocalSlots (src/routing/local-slots.ts): counters in this process; synchronous.
 *   - RedisSlots (src/cluster/leases.ts): every slot is a lease in a Redis sorted set per
 *     instance, shared by every replica; falls back to local slots while Redis is down.
 *   - IpcSlots (src/cluster/ipc-slots.ts; workers without Redis): a proxy to the one LocalSlots
 *     in the primary process.
 * All of them pass the one conformance suite src/routing/slots.common.case.ts.
 *
 * Leases are plain data (no methods), so a store can hand them across a process boundary.
 * Health, drain and cool-downs are not the store's business: the Router decides which
 * instances are candidates, the store only counts streams against each one's limit.
 */

/** A result that is synchronous for a local store and a promise for a remote one. */
export type MaybePromise<T> = T | Promise<T>;

/** One instance a caller would accept a slot on, and how many streams it takes now. */
export interface SlotClaim {
  /** Instance id (Instance.id: unique across the fleet, same on every replica). */
  readonly instanceId: string;
  /**
   * Streams the instance takes now: max_concurrency, or its adaptive limit. Passed on every
   * acquire because an adaptive limit moves; a store never caches it.
   */
  readonly limit: number;
}

/** A held slot. Release it exactly once through the store that gave it. */
export interface SlotLease {
  /** Unique across every holder of the store (Redis member; IPC handle). */
  readonly id: string;
  readonly instanceId: string;
  /**
   * Streams the instance had in flight right after this one was taken (this one included), as
   * the store counts them (shared stores: across every replica). Feeds the adaptive limit.
   */
  readonly inFlightAtStart: number;
}

export interface SlotStore {
  /** True when the count is shared beyond this process (Redis, or IPC to the primary). */
  readonly shared: boolean;
  /**
   * Walks `claims` in the given order (the session's hash order) and takes a slot on the
   * first instance holding fewer leases than its `limit`; null when none has room.
   * Guarantees: atomic against every other holder of the store (two acquires never both take
   * the last slot of an instance); never throws and never rejects (a store whose backend is
   * unreachable answers from its fallback); a local store answers synchronously (no promise,
   * no allocation beyond the lease) so the hot path stays free of microtasks.
   * `claims` is read before the call returns and may be reused by the caller afterwards.
   */
  acquire(claims: readonly SlotClaim[]): MaybePromise<SlotLease | null>;
  /**
   * Frees the slot at once in this process's view and, for shared stores, everywhere as soon
   * as the backend hears (best effort: an unreachable backend lets the lease expire instead).
   * Idempotent: a second release of the same lease is a no-op. Never throws, never waits.
   */
  release(lease: SlotLease): void;
  /** Leases on `instanceId` as this process knows them now (local: exact; shared: its own, or the last count seen). */
  held(instanceId: string): number;
  /**
   * Calls `listener` when a slot may have freed: a release here or, for shared stores, on any
   * other holder (pub/sub, plus a bounded poll as the safety net). Returns an unsubscribe.
   * Listeners may be called spuriously; they re-try acquire.
   */
  onFree(listener: () => void): () => void;
  /** Stops timers and subscriptions; leases still held are released (shared: best effort). */
  close(): Promise<void>;
}
