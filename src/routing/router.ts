/**
 * The routing contract the session and failover code use (DESIGN.md §3).
 * One implementation, pool.ts, composed of the parts beside it (docs/routing.md, the file table).
 */
import type { Backend } from '../backends/backend.ts';
import type { MaybePromise } from './slots.ts';

export interface Instance {
  readonly id: string;
  readonly url: string;
  readonly pool: string;
  readonly weight: number;
  /** Configured max_concurrency. */
  readonly maxConcurrency: number;
  /** Streams it takes now: max_concurrency, or the learned limit when adaptive. */
  readonly limit: number;
  readonly backend: Backend;
  /** Up by active health checks and not ejected (passive checks, breaker.ts). */
  readonly healthy: boolean;
  /** Ejected by passive checks (real requests kept failing), here or on a peer replica. */
  readonly ejected: boolean;
  /** Draining: takes no new sessions; pinned sessions carry on. */
  readonly draining: boolean;
  /** Sessions pinned here now. */
  readonly sessions: number;
  /** Synthesis streams in flight here now. */
  readonly streams: number;
}

/** A held synthesis stream slot on one instance. Release exactly once. */
export interface Slot {
  readonly instance: Instance;
  /** Streams the instance had in flight when this one started (this one included). */
  readonly inFlightAtStart: number;
  release(): void;
}

export interface Router {
  readonly pool: string;
  /**
   * Admits a session: its live pin, else its remembered pin (pins.ts), when that instance is
   * available; else the first instance in the key's own hash order that is healthy, not
   * draining and under its bounded-load session cap. Counts the session there.
   * null when no instance can take it (the caller uses the fallback).
   */
  pin(sessionKey: string): Instance | null;
  /** The session ended (or moved): stop counting it on `instance`. */
  release(sessionKey: string, instance: Instance): void;
  /** Moves a session's pin (failover): release on `from`, count on `to`. */
  repin(sessionKey: string, from: Instance | null, to: Instance): void;
  /**
   * The session's failover order: healthy, non-draining instances in its own hash order,
   * excluding `exclude` (ids). Deterministic for a given fleet. `limit` (default: all) stops
   * the walk after that many: failover needs two or three, and the full order at N = 1000
   * costs tens of µs (docs/routing.md).
   */
  candidates(sessionKey: string, exclude?: ReadonlySet<string>, limit?: number): Instance[];
  /**
   * Takes a slot only if one is free right now. The router never queues: a segment that finds
   * no slot waits in its pool's wait queue (session/wait-queue.ts), which onCapacity wakes.
   * Local slot stores only: with a shared store (sharedSlots) it answers null; use acquireFirst.
   */
  tryAcquire(instance: Instance): Slot | null;
  /** Whether slots are counted beyond this process (Redis, or the workers' primary). */
  readonly sharedSlots: boolean;
  /**
   * A slot on the first of `instances` (in the given order) that can stream and has room, in
   * one call to the slot store (src/routing/slots.ts: one Redis round trip when shared).
   * Synchronous with a local store; a promise with a shared one. Never rejects.
   */
  acquireFirst(instances: readonly Instance[]): MaybePromise<Slot | null>;
  /**
   * The instance said it is full (429/503): no new streams there for `ms`. Not a failure: it
   * does not count toward ejection. Capacity listeners hear when the cool-down ends.
   */
  coolDown(instance: Instance, ms: number): void;
  /** Whether any instance of the pool could take a stream now (healthy, not cooling, not full). */
  hasFreeSlot(): boolean;
  /** Called whenever capacity may have freed here: a stream ended, an instance came up or cooled down. */
  onCapacity(listener: () => void): void;
  /**
   * A request's time to first audio on `instance`, and the streams it had when the request
   * started: an adaptive limit learns from it (pools[].capacity.mode adaptive); else ignored.
   */
  reportFirstAudio(instance: Instance, ms: number, inFlightAtStart: number): void;
  /** Passive health: a real request failed (counts toward ejection) or succeeded. */
  reportFailure(instance: Instance, kind: string): void;
  reportSuccess(instance: Instance): void;
  readonly instances: readonly Instance[];
}
