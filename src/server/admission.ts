/**
 * Whether this process takes one more session (a `/v1/stream` call or an HTTP speech
 * request). One gateway process is one JavaScript thread: past its capacity every call on it
 * degrades at once (bench/RESULTS.md, "Call load": at 5,000 active calls on 2 cores the loop
 * fell 19.7 s behind and segments failed in all of them). Refusing new sessions cleanly, with
 * a code a client or load balancer can act on, keeps the calls already here whole.
 */

export interface AdmissionOptions {
  /**
   * Sessions this process takes at once (WebSocket calls after `start`, plus HTTP speech
   * requests in progress); one more is refused with `at_capacity`. 0 = no limit. Default 0.
   */
  readonly maxSessions: number;
  /**
   * Refuse new sessions with `overloaded` while the gateway's own event loop lags (the
   * LoopLagMonitor's overloaded window). Default false.
   */
  readonly refuseWhenLagging: boolean;
  /** Sessions live now. */
  readonly liveSessions: () => number;
  /** The gateway's own event loop lags (LoopLagMonitor.overloaded). */
  readonly lagging: () => boolean;
}

export type RefusalCode = 'shutting_down' | 'at_capacity' | 'overloaded';

export interface Refusal {
  readonly code: RefusalCode;
  readonly message: string;
}

const SHUTTING_DOWN: Refusal = { code: 'shutting_down', message: 'the gateway is shutting down; reconnect to another replica' };
const OVERLOADED: Refusal = { code: 'overloaded', message: 'the gateway is overloaded; retry shortly or on another replica' };

export class Admission {
  /** Graceful drain: every new session is refused from now on. */
  draining = false;
  private readonly atCapacity: Refusal;

  constructor(private readonly options: AdmissionOptions) {
    this.atCapacity = {
      code: 'at_capacity',
      message: `the gateway has its ${options.maxSessions} sessions (server.max_sessions); retry on another replica`,
    };
  }

  /** Null when one more session may start; otherwise why not. */
  check(): Refusal | null {
    if (this.draining) return SHUTTING_DOWN;
    const max = this.options.maxSessions;
    if (max > 0 && this.options.liveSessions() >= max) return this.atCapacity;
    if (this.options.refuseWhenLagging && this.options.lagging()) return OVERLOADED;
    return null;
  }

  /** For /ready: draining or full means a load balancer should send new calls elsewhere. */
  get full(): boolean {
    const max = this.options.maxSessions;
    return max > 0 && this.options.liveSessions() >= max;
  }
}
