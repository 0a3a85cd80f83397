/**
 * Whether this process takes one more session (a call or context on any WebSocket front end, or
 * an HTTP speech request). One gateway process is one JavaScript thread: past its capacity
 * every call on it degrades at once (bench/RESULTS.md, "Past one process": at 5,000 active
 * calls on 2 cores the loop fell up to 11 s behind, first-audio timeouts fired on healthy
 * instances and segments failed). Refusing new sessions cleanly, with a code a client or load
 * balancer can act on, keeps the calls already here whole.
 */
import type { AdmissionRefusalCode } from '../errors.ts';
import type { Metrics } from '../metrics.ts';

export interface AdmissionOptions {
  /**
   * Sessions this process takes at once (every live session, whatever its front end, plus
   * `/v1/stream` sockets upgraded and not yet started); one more is refused with `at_capacity`.
   * 0 = no limit.
   */
  readonly maxSessions: number;
  /**
   * Refuse new sessions with `overloaded` while the gateway's own event loop lags (the
   * LoopLagMonitor's overloaded window).
   */
  readonly refuseWhenLagging: boolean;
  /** Sessions live now. */
  readonly liveSessions: () => number;
  /** The gateway's own event loop lags (LoopLagMonitor.overloaded). */
  readonly lagging: () => boolean;
  /**
   * `server.admission: refuse`: whether `pool` (every pool when omitted) is saturated, i.e. its
   * wait queue holds work older than its first_audio_ms. Default: never (admission `queue`).
   */
  readonly saturated?: (pool?: string) => boolean;
}

export type RefusalCode = AdmissionRefusalCode;

export interface Refusal {
  readonly code: RefusalCode;
  readonly message: string;
}

const SHUTTING_DOWN: Refusal = { code: 'shutting_down', message: 'the gateway is shutting down; reconnect to another replica' };
const FLEET_FULL: Refusal = {
  code: 'at_capacity',
  message: 'every GPU of the pool is busy and calls are already waiting (server.admission: refuse); retry shortly or on another replica',
};
const OVERLOADED: Refusal = { code: 'overloaded', message: 'the gateway is overloaded; retry shortly or on another replica' };

/**
 * Counts a session turned away before it began (voicegate_sessions_total{outcome="rejected"}),
 * wherever that happens: upgrade, `start`, speech request. A drain's refusals are not counted:
 * they are the replica going away, not a lack of capacity.
 */
export function countRejection(metrics: Metrics, code: string): void {
  if (code !== 'shutting_down') metrics.sessionsTotal.inc({ outcome: 'rejected' });
}

export class Admission {
  /** Graceful drain: every new session is refused from now on. */
  draining = false;
  /**
   * WebSockets upgraded and not yet started: they hold a connection and count toward
   * max_sessions from the upgrade, so sockets that never send `start` cannot pile up uncounted.
   */
  private awaitingStart = 0;
  private readonly atCapacity: Refusal;

  constructor(private readonly options: AdmissionOptions) {
    this.atCapacity = {
      code: 'at_capacity',
      message: `the gateway has its ${options.maxSessions} sessions (server.max_sessions); retry on another replica`,
    };
  }

  /**
   * Null when one more session may start; otherwise why not. A socket that already holds a
   * place (upgraded, now sending `start`) passes `holdingPlace` so it does not count itself.
   * With `pool`, a saturated pool refuses too (`server.admission: refuse`); without it, only
   * when every pool is saturated. The routes call it without `pool`: once the pool is known,
   * SessionFactory.create refuses a saturated one itself (`at_capacity`).
   */
  check(holdingPlace = false, pool?: string): Refusal | null {
    if (this.draining) return SHUTTING_DOWN;
    if (this.taken() - (holdingPlace ? 1 : 0) >= this.limit()) return this.atCapacity;
    if (this.options.refuseWhenLagging && this.options.lagging()) return OVERLOADED;
    if (this.options.saturated?.(pool)) return FLEET_FULL;
    return null;
  }

  /** A WebSocket was upgraded: it holds a place until `start` makes it a session, or it closes. */
  holdPlace(): void {
    this.awaitingStart++;
  }

  /** The place held since the upgrade is given up (the session started, or the socket closed). */
  releasePlace(): void {
    if (this.awaitingStart > 0) this.awaitingStart--;
  }

  /** Upgraded sockets still waiting for their `start`. */
  get waitingForStart(): number {
    return this.awaitingStart;
  }

  private taken(): number {
    return this.options.liveSessions() + this.awaitingStart;
  }

  private limit(): number {
    const max = this.options.maxSessions;
    return max > 0 ? max : Infinity;
  }

  /** For /ready: draining or full means a load balancer should send new calls elsewhere. */
  get full(): boolean {
    return this.taken() >= this.limit();
  }
}
