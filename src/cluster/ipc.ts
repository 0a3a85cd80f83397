/**
 * A small typed request/response channel over node's IPC (a `node:cluster` worker and its
 * primary). Each request carries an id; the answer with that id settles it. A request that gets
 * no answer within its timeout rejects, and when the other side goes away (worker death,
 * primary gone) every pending request rejects at once instead of waiting for its timeout.
 *
 * Messages are tagged with `vg` so that other IPC users (prom-client, node itself) pass through.
 */
import { VoicegateError } from '../errors.ts';

/** The part of `process` or of a `cluster.Worker` the channel needs. */
export interface IpcEndpoint {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect' | 'exit', listener: () => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'disconnect' | 'exit', listener: () => void): unknown;
}

/** Request type → [payload, answer]. */
export type IpcMethods = Record<string, [unknown, unknown]>;

type Wire =
  | { vg: 'req'; id: number; method: string; payload: unknown }
  | { vg: 'note'; method: string; payload: unknown }
  | { vg: 'res'; id: number; ok: true; value: unknown }
  | { vg: 'res'; id: number; ok: false; error: string };

export class IpcClosedError extends VoicegateError<'ipc_closed'> {
  constructor(reason: string) {
    super('ipc_closed', `IPC channel closed: ${reason}`);
  }
}

export class IpcTimeoutError extends VoicegateError<'ipc_timeout'> {
  constructor(method: string, ms: number) {
    super('ipc_timeout', `IPC request ${method} got no answer within ${ms} ms`);
  }
}

export interface IpcChannelOptions {
  /** A request unanswered this long rejects with IpcTimeoutError. Default 5000. */
  readonly timeoutMs?: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Both ends use the same class: `Serve` is what this end answers, `Call` what it asks the other.
 */
export class IpcChannel<Serve extends IpcMethods, Call extends IpcMethods> {
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, (payload: unknown) => unknown>();
  private nextId = 1;
  private closedReason: string | null = null;
  private readonly timeoutMs: number;

  constructor(
    private readonly endpoint: IpcEndpoint,
    options: IpcChannelOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    endpoint.on('message', this.onMessage);
    endpoint.on('disconnect', this.onGone);
    endpoint.on('exit', this.onGone);
  }

  /** Answers requests of `method` from the other side (a thrown error rejects the caller). */
  handle<M extends keyof Serve & string>(method: M, handler: (payload: Serve[M][0]) => Serve[M][1] | Promise<Serve[M][1]>): void {
    this.handlers.set(method, handler as (payload: unknown) => unknown);
  }

  request<M extends keyof Call & string>(method: M, payload: Call[M][0], timeoutMs = this.timeoutMs): Promise<Call[M][1]> {
    if (this.closedReason !== null) return Promise.reject(new IpcClosedError(this.closedReason));
    const id = this.nextId++;
    return new Promise<Call[M][1]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new IpcTimeoutError(method, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      try {
        this.endpoint.send({ vg: 'req', id, method, payload } satisfies Wire);
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err as Error);
      }
    });
  }

  /**
   * A one-way message (no id, no answer): for what must not wait, such as a release or a
   * "slot freed" broadcast. Dropped silently once the channel is closed.
   */
  notify<M extends keyof Call & string>(method: M, payload: Call[M][0]): void {
    if (this.closedReason !== null) return;
    try {
      this.endpoint.send({ vg: 'note', method, payload } satisfies Wire);
    } catch {
      // The other side is gone; its 'disconnect' closes this channel.
    }
  }

  /** Rejects every pending request and stops listening. */
  close(reason = 'closed'): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.endpoint.off('message', this.onMessage);
    this.endpoint.off('disconnect', this.onGone);
    this.endpoint.off('exit', this.onGone);
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(new IpcClosedError(reason));
    }
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  private readonly onGone = (): void => this.close('the other process went away');

  private readonly onMessage = (message: unknown): void => {
    if (typeof message !== 'object' || message === null || !('vg' in message)) return;
    const wire = message as Wire;
    if (wire.vg === 'res') {
      const pending = this.pending.get(wire.id);
      if (!pending) return; // timed out already
      this.pending.delete(wire.id);
      clearTimeout(pending.timer);
      if (wire.ok) pending.resolve(wire.value);
      else pending.reject(new Error(wire.error));
      return;
    }
    if (wire.vg === 'note') {
      void Promise.resolve()
        .then(() => this.handlers.get(wire.method)?.(wire.payload))
        .catch(() => {
          // A one-way message has nobody to tell.
        });
      return;
    }
    if (wire.vg === 'req') void this.answer(wire.id, wire.method, wire.payload);
  };

  private async answer(id: number, method: string, payload: unknown): Promise<void> {
    const handler = this.handlers.get(method);
    let reply: Wire;
    try {
      if (!handler) throw new Error(`no IPC handler for ${method}`);
      reply = { vg: 'res', id, ok: true, value: await handler(payload) };
    } catch (err) {
      reply = { vg: 'res', id, ok: false, error: (err as Error)?.message ?? String(err) };
    }
    if (this.closedReason !== null) return;
    try {
      this.endpoint.send(reply);
    } catch {
      // The asker is gone; its side rejects on its own.
    }
  }
}
