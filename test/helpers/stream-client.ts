/** A /v1/stream test client that records every event in arrival order. */
import WebSocket from 'ws';

export type StreamEvent = { type: string; [key: string]: unknown } | { type: 'audio'; bytes: Buffer };

const DEFAULT_START = { type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 24000 } };

/** The status and JSON body of an upgrade the gateway refused, or null if it was accepted. */
export function refusedUpgrade(url: string): Promise<{ status: number; body: Record<string, unknown> } | null> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.close();
      resolve(null);
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> }));
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

export class StreamClient {
  readonly events: StreamEvent[] = [];
  /** performance.now() at which each event arrived (parallel to events). */
  readonly times: number[] = [];
  private waiters: { match: (e: StreamEvent) => boolean; resolve: (e: StreamEvent) => void }[] = [];
  closeCode: number | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const event: StreamEvent = isBinary ? { type: 'audio', bytes: data as Buffer } : JSON.parse(String(data));
      this.events.push(event);
      this.times.push(performance.now());
      this.waiters = this.waiters.filter((w) => (w.match(event) ? (w.resolve(event), false) : true));
    });
    ws.on('close', (code) => (this.closeCode = code));
  }

  static connect(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const client = new StreamClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  /** Connects, sends `start` and waits for `ready`: a call ready to talk. */
  static async started(url: string, start: Record<string, unknown> = DEFAULT_START): Promise<StreamClient> {
    const client = await StreamClient.connect(url);
    client.send(start);
    await client.waitType('ready');
    return client;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Resolves with the first event (already received or future) matching. */
  waitFor(match: (e: StreamEvent) => boolean, timeoutMs = 10_000): Promise<StreamEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting; events so far: ${this.summary()}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  waitType(type: string, timeoutMs?: number): Promise<StreamEvent> {
    return this.waitFor((e) => e.type === type, timeoutMs);
  }

  /** Waits for the n-th (1-based) event of a type. */
  waitCount(type: string, n: number, timeoutMs = 10_000): Promise<void> {
    const count = () => this.events.filter((e) => e.type === type).length;
    if (count() >= n) return Promise.resolve();
    return this.waitFor(() => count() >= n, timeoutMs).then(() => undefined);
  }

  audioBytes(): Buffer {
    return Buffer.concat(this.events.filter((e): e is { type: 'audio'; bytes: Buffer } => e.type === 'audio').map((e) => e.bytes));
  }

  ofType(type: string): Record<string, unknown>[] {
    return this.events.filter((e) => e.type === type) as Record<string, unknown>[];
  }

  summary(): string {
    return this.events.map((e) => (e.type === 'audio' ? 'audio' : JSON.stringify(e))).join(' | ').slice(0, 2000);
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close(1000);
    });
  }
}

/** RMS of s16le audio: 0 for silence, thousands for speech. */
export function rms(pcm: Buffer): number {
  const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.byteLength >> 1);
  let sum = 0;
  for (const s of samples) sum += s * s;
  return samples.length ? Math.sqrt(sum / samples.length) : 0;
}
