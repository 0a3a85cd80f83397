/** An in-memory HttpResponse for route tests that need no socket (admin, speech routes). */
import type { HttpResponse } from '../../src/server/engine.ts';

export class FakeHttpResponse implements HttpResponse {
  status = 0;
  headers: Record<string, string> = {};
  chunks: (Uint8Array | string)[] = [];
  ended = false;
  aborted = false;
  destroyed = false;
  /** What write() answers. */
  writable = true;
  drainCallbacks: (() => void)[] = [];
  private abortCallbacks: (() => void)[] = [];

  get headersSent(): boolean {
    return this.status !== 0;
  }

  writeHead(status: number, headers: Readonly<Record<string, string>>): void {
    this.status = status;
    this.headers = { ...headers };
  }

  write(chunk: Uint8Array | string): boolean {
    this.chunks.push(chunk);
    return this.writable;
  }

  end(chunk?: Uint8Array | string): void {
    if (chunk !== undefined) this.chunks.push(chunk);
    this.ended = true;
  }

  destroy(): void {
    this.destroyed = true;
  }

  onDrain(cb: () => void): void {
    this.drainCallbacks.push(cb);
  }

  onAborted(cb: () => void): void {
    this.abortCallbacks.push(cb);
  }

  /** The client caught up: runs the onDrain callbacks. */
  drain(): void {
    const cbs = this.drainCallbacks;
    this.drainCallbacks = [];
    for (const cb of cbs) cb();
  }

  /** The client went away: runs the onAborted callbacks. */
  abort(): void {
    this.aborted = true;
    for (const cb of this.abortCallbacks) cb();
  }

  body(): string {
    return this.chunks.map((c) => (typeof c === 'string' ? c : Buffer.from(c).toString())).join('');
  }

  json(): unknown {
    return JSON.parse(this.body());
  }
}
