/** Typed state-change events of instances; the gateway logs them (one line per change). */

export type InstanceEventType =
  /** Active checks passed `rise` times in a row after being down. */
  | 'up'
  /** Active checks failed `fall` times in a row. */
  | 'down'
  /** Passive ejection: `eject_after` consecutive failures of real traffic. */
  | 'ejected'
  /** The ejection ended: its time passed and the half-open probe (one real synthesis) had first audio. */
  | 'restored'
  | 'draining'
  | 'undrained'
  /** Added to the pool at run time (discovery): in the ring, takes new sessions. */
  | 'joined'
  /** Taken out of the ring at run time: no new sessions; pinned sessions carry on. */
  | 'left'
  /** A departed instance's last session and stream ended: checks stopped, backend closed. */
  | 'removed'
  /** Its adaptive stream limit moved, or its baseline was measured (limit maybe unchanged): `limit`, and why in `reason`. */
  | 'capacity';

export interface InstanceEvent {
  readonly type: InstanceEventType;
  readonly pool: string;
  readonly instance: string;
  readonly url: string;
  /** Whether the instance takes traffic after this change. */
  readonly healthy: boolean;
  /**
   * down: the last check's error; ejected: the failing request's BackendError code, `half-open
   * probe failed`, or `peer: …` (another replica's ejection, cluster/instance-state.ts);
   * capacity: why the limit moved, with the medians that moved it.
   */
  readonly reason?: string;
  /** capacity: the learned limit now. */
  readonly limit?: number;
  /** ejected: how long, in ms. */
  readonly durationMs?: number;
}

/** Event map for Fleet (node:events typed EventEmitter). */
export interface FleetEvents {
  instance: [InstanceEvent];
}
