/**
 * One playground call over the native protocol (`/v1/stream`, docs/protocol.md): opens the
 * WebSocket with a one-use ticket, sends turns (whole text, or tokens at a rate "like an
 * LLM"), plays the audio and keeps the timeline: per segment its text, provider, time to first
 * audio and the `failover` / `waiting` events, plus the call's own events.
 */
import { streamTicket } from './api.ts';
import { Player, decodeFrame, encodeWav, type Encoding } from './audio.ts';

export interface CallSettings {
  readonly voice: string;
  readonly encoding: Encoding;
  readonly sampleRate: number;
  /** Sent in `start`; gateways whose native protocol has no `speed` ignore it. */
  readonly speed: number;
}

export interface SegmentRow {
  index: number;
  text: string;
  provider: string;
  /** ms since the call opened. */
  announcedAt: number;
  firstAudioAt: number | null;
  /** First audio − the time the segment's last text was sent (or the flush). */
  ttfaMs: number | null;
  audioMs: number | null;
  /** failover / waiting notes, in arrival order. */
  events: string[];
  done: boolean;
}

export interface CallEvent {
  /** ms since the call opened. */
  at: number;
  type: string;
  detail: string;
}

export type CallState = 'connecting' | 'ready' | 'closed';

/** ms since `origin`, rounded. */
const since = (origin: number) => Math.round(performance.now() - origin);

/** Tokens like an LLM's: words with their leading space, long words cut in 6-character pieces. */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  for (const word of text.match(/\s*\S+|\s+$/g) ?? []) {
    for (let i = 0; i < word.length; i += 6) tokens.push(word.slice(i, i + 6));
  }
  return tokens;
}

export class StreamCall {
  state: CallState = 'connecting';
  sessionId = '';
  pool = '';
  pin = '';
  readonly segments: SegmentRow[] = [];
  readonly events: CallEvent[] = [];
  /** Server `cancelled` confirmations received. */
  cancelledConfirmed = 0;
  readonly player: Player;
  private readonly chunks: Float32Array[] = [];
  private ws: WebSocket | null = null;
  private readonly openedAt = performance.now();
  /** Every text delta sent: cumulative end offset and when (for TTFA). */
  private sent: { end: number; at: number }[] = [];
  private sentChars = 0;
  /** Characters of the turn already attributed to announced segments. */
  private attributed = 0;
  private flushedAt: number | null = null;
  /** Audio between our cancel and the server's `cancelled` belongs to the dropped turn. */
  private discarding = false;
  private streaming: ReturnType<typeof setInterval> | null = null;
  private current: SegmentRow | null = null;

  constructor(
    readonly settings: CallSettings,
    private readonly onChange: () => void,
  ) {
    this.player = new Player(settings.sampleRate);
  }

  async open(): Promise<void> {
    await this.player.resume();
    const ticket = await streamTicket();
    const sessionId = `console-${crypto.randomUUID().slice(0, 8)}`;
    const url = new URL('/v1/stream', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('session_id', sessionId);
    url.searchParams.set('ticket', ticket);
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error('the WebSocket to /v1/stream failed'));
    });
    ws.onmessage = (e: MessageEvent<string | ArrayBuffer>) => (typeof e.data === 'string' ? this.onMessage(e.data) : this.onAudio(e.data));
    ws.onclose = (e) => {
      this.stopStreaming();
      this.state = 'closed';
      this.note('closed', `${e.code}${e.reason ? ` ${e.reason}` : ''}`);
    };
    const { voice, encoding, sampleRate, speed } = this.settings;
    this.send({ type: 'start', voice, format: { encoding, sample_rate: sampleRate }, speed });
  }

  private send(message: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private note(type: string, detail: string): void {
    this.events.push({ at: since(this.openedAt), type, detail });
    this.onChange();
  }

  private sendText(text: string): void {
    this.sentChars += text.length;
    this.sent.push({ end: this.sentChars, at: performance.now() });
    this.send({ type: 'text', text });
  }

  private flush(): void {
    this.flushedAt = performance.now();
    this.send({ type: 'flush' });
  }

  /** A whole turn at once. */
  say(text: string): void {
    this.beginTurn();
    this.sendText(text);
    this.flush();
  }

  /** A turn as tokens at `tokensPerSecond`, then a flush. */
  streamLikeLlm(text: string, tokensPerSecond: number): void {
    this.beginTurn();
    const tokens = tokenize(text);
    let i = 0;
    this.streaming = setInterval(
      () => {
        if (i < tokens.length) this.sendText(tokens[i++]);
        if (i >= tokens.length) {
          this.stopStreaming();
          this.flush();
        }
      },
      Math.max(5, 1000 / tokensPerSecond),
    );
  }

  get streamingText(): boolean {
    return this.streaming !== null;
  }

  private beginTurn(): void {
    this.stopStreaming();
    this.sent = [];
    this.sentChars = 0;
    this.attributed = 0;
    this.flushedAt = null;
  }

  private stopStreaming(): void {
    if (this.streaming) clearInterval(this.streaming);
    this.streaming = null;
  }

  /** Barge-in: stop playing now and tell the server; its `cancelled` confirms. */
  bargeIn(): void {
    this.stopStreaming();
    this.player.stop();
    this.discarding = true;
    this.send({ type: 'cancel' });
    this.note('barge-in', 'cancel sent; playback stopped');
  }

  hangUp(): void {
    this.stopStreaming();
    this.ws?.close(1000, 'hang up');
    this.player.stop();
  }

  /** The call's audio so far as a WAV file. */
  wav(): Blob {
    return encodeWav(this.chunks, this.settings.sampleRate);
  }

  get audioSeconds(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0) / this.settings.sampleRate;
  }

  private onAudio(data: ArrayBuffer): void {
    if (this.discarding) return;
    const samples = decodeFrame(this.settings.encoding, data);
    this.chunks.push(samples);
    this.player.play(samples);
    const seg = this.current;
    if (seg && seg.firstAudioAt === null) {
      const now = performance.now();
      seg.firstAudioAt = Math.round(now - this.openedAt);
      const textAt = this.textCompletedAt(seg);
      seg.ttfaMs = textAt === null ? null : Math.round(now - textAt);
      this.onChange();
    }
  }

  /** When the segment's last character was sent (estimated from its length), else the flush. */
  private textCompletedAt(seg: SegmentRow): number | null {
    this.attributed += seg.text.length;
    const entry = this.sent.find((s) => s.end >= this.attributed);
    if (entry && (this.flushedAt === null || entry.at <= this.flushedAt)) return entry.at;
    return this.flushedAt;
  }

  private segment(index: number): SegmentRow | undefined {
    return this.segments.find((s) => s.index === index);
  }

  private onMessage(raw: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return this.note('error', `unparsable server message: ${raw.slice(0, 80)}`);
    }
    const index = typeof msg.index === 'number' ? msg.index : -1;
    switch (msg.type) {
      case 'ready':
        this.state = 'ready';
        this.sessionId = String(msg.session_id);
        this.pool = String(msg.pool);
        this.pin = String(msg.instance);
        return this.note('ready', `session ${this.sessionId}, pool ${this.pool}, pinned to ${this.pin}`);
      case 'segment': {
        const row: SegmentRow = {
          index,
          text: String(msg.text),
          provider: String(msg.provider),
          announcedAt: since(this.openedAt),
          firstAudioAt: null,
          ttfaMs: null,
          audioMs: null,
          events: this.segment(index)?.events ?? [],
          done: false,
        };
        const existing = this.segments.findIndex((s) => s.index === index);
        if (existing >= 0) this.segments[existing] = row;
        else this.segments.push(row);
        this.current = row;
        return this.onChange();
      }
      case 'segment_end': {
        const row = this.segment(index);
        if (row) {
          row.audioMs = Number(msg.audio_ms);
          row.done = true;
        }
        return this.onChange();
      }
      case 'failover':
      case 'waiting': {
        const detail = msg.type === 'failover' ? `failover ${msg.from} → ${msg.to} (${msg.reason})` : `waiting for a slot, queue position ${msg.queue_position}`;
        let row = this.segment(index);
        if (!row) {
          // Announced before its `segment` message: keep the note for when it comes.
          row = { index, text: '', provider: '', announcedAt: since(this.openedAt), firstAudioAt: null, ttfaMs: null, audioMs: null, events: [], done: false };
          this.segments.push(row);
        }
        row.events.push(detail);
        return this.note(String(msg.type), `segment ${index}: ${detail}`);
      }
      case 'draining':
        return this.note('draining', `the gateway is draining; the call must end within ${msg.deadline_ms} ms`);
      case 'turn_end':
        return this.note('turn_end', 'all audio of the turn sent');
      case 'cancelled':
        this.discarding = false;
        this.cancelledConfirmed++;
        return this.note('cancelled', 'the server confirmed the barge-in');
      case 'mark':
        return this.note('mark', String(msg.name));
      case 'error':
        return this.note('error', `${msg.code}: ${msg.message}`);
      default:
        return this.note(String(msg.type), raw.slice(0, 120));
    }
  }
}
