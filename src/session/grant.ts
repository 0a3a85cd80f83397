/**
 * A Grant owns one stream slot on one provider (a pool instance or the fallback) for one
 * synthesis attempt. It is the only handle on the slot: `release()` gives it back exactly once,
 * however often it is called, so every path (done, failed, timed out, cancelled before or after
 * the grant, socket closed) can simply release what it holds.
 */
import type { Backend } from '../backends/backend.ts';
import type { TimeoutsConfig } from '../config.ts';
import type { Instance } from '../routing/router.ts';

/** Why a segment changed provider: the `reason` label of voicegate_failovers_total. */
export type MoveReason =
  /** The pin had no free slot (after queue_ms, where it is waited for) or said it is full (429/503): a spill. */
  | 'overflow'
  /** The pin is down by active health checks. */
  | 'unhealthy'
  /** The pin is ejected by passive checks (real requests kept failing). */
  | 'ejected'
  /** No first audio within first_audio_ms. */
  | 'timeout'
  /** Audio stopped for stall_ms mid-segment. */
  | 'stall'
  /** Could not connect. */
  | 'connect'
  /** The server answered 5xx (but 503: overflow). */
  | 'http_5xx'
  /** The server answered something we cannot decode. */
  | 'protocol'
  /** The stream ended early or with no audio. */
  | 'closed'
  /** A session living on the fallback returns to the fleet (an instance has room again). */
  | 'restored'
  /**
   * Told at delivery: the segment did not move, but its provider differs from the previous
   * segment's (that one spilled or moved, or the session's pin moved between them).
   */
  | 'pin_change';

export interface Grant {
  /** Instance id, or `cartesia` for the fallback. */
  readonly provider: string;
  readonly backend: Backend;
  readonly timeouts: TimeoutsConfig;
  /** The voice to ask this provider for (fallback voices are mapped once, here). */
  readonly voice: string;
  /** The instance, or null for the fallback. */
  readonly instance: Instance | null;
  /** Streams the instance had when this one started (this one included); 0 for the fallback. */
  readonly inFlightAtStart: number;
  /** Gives the slot back. Idempotent. */
  release(): void;
}

/** Wraps a release function so that it runs at most once. */
export function once(release: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    release();
  };
}
