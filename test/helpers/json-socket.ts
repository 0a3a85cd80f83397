/** A WebSocket test client that records JSON and binary messages in arrival order. */
import WebSocket from 'ws';

export type Received = { json: Record<string, unknown>; binary?: undefined } | { json?: undefined; binary: Buffer };

export class JsonSocket {
  readonly received: Received[] = [];
  closeCode: number | undefined;
  private waiters: { match: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const message: Received = isBinary ? { binary: data as Buffer } : { json: JSON.parse(String(data)) as Record<string, unknown> };
      this.received.push(message);
      this.waiters = this.waiters.filter((w) => (w.match(message) ? (w.resolve(message), false) : true));
    });
    ws.on('close', (code) => (this.closeCode = code));
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<JsonSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const socket = new JsonSocket(ws);
      ws.once('open', () => resolve(socket));
      ws.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message (already received or coming) matching `match`. */
  wait(match: (json: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const seen = this.received.find((m) => m.json && match(m.json));
    if (seen) return Promise.resolve(seen.json!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.json().slice(-5))}`)), timeoutMs);
      this.waiters.push({
        match: (m) => m.json !== undefined && match(m.json),
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m.json!);
        },
      });
    });
  }

  json(): Record<string, unknown>[] {
    return this.received.flatMap((m) => (m.json ? [m.json] : []));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
