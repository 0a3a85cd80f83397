/**
 * One simulated call of the load benchmark: an LLM streams turns of text token by token, the
 * caller listens (playout clock), sometimes interrupts (barge-in), thinks, and the bot speaks
 * again, until the run's deadline. The turn logic is shared; two transports carry it:
 *  - GatewayCall: voicegate's native WebSocket protocol (/v1/stream);
 *  - DirectCall: the simulator's OpenAI-compatible HTTP API, one request per segment, cut by
 *    the gateway's own segmenter on the client side, with the gateway's lookahead and
 *    in-order delivery, so both measure the same sentences the same way.
 *
 * Time to first audio of a turn (TTFA): from just before the client sent the text delta (or
 * flush) after which the segmenter first had a segment for the turn, to the arrival of the
 * turn's first audio byte. Both paths run the same segmenter on the same deltas, so t0 is the
 * earliest moment either side could start synthesis.
 */
import type { Pool } from 'undici';
import WebSocket from 'ws';
import { bytesPerSample, type Encoding } from '../../src/audio/format.ts';
import { SIM_SAMPLE_RATE, textDurationMs } from '../../src/sim/audio.ts';
import { normalizeForSpeech } from '../../src/text/normalize.ts';
import { createSegmenter, type Segmenter } from '../../src/text/segmenter.ts';
import { PlayoutClock } from './playout.ts';
import { createRng } from '../rng.ts';
import { tokenize, turnText } from './script.ts';
import type { RunStats } from './stats.ts';

export interface CallOptions {
  /** Shared counters of the run. */
  readonly stats: RunStats;
  /** Seed of this call's script (turn texts, cancel decisions, think times). */
  readonly seed: number;
  /** LLM token pacing, ms between tokens. Default 20 (50 tokens/s). */
  readonly tokenIntervalMs?: number;
  /** Share of turns the caller interrupts, 0–1. Default 0.2. */
  readonly cancelShare?: number;
  /** Barge-in this long after the turn's first audio, ms range. Default [300, 2500]. */
  readonly cancelAfterMs?: [number, number];
  /** Pause between the end of playout (or a cancel) and the next turn, ms range. Default [500, 1500]. */
  readonly thinkMs?: [number, number];
  /** A turn not finished within this is abandoned (and counted). Default 30 000. */
  readonly turnTimeoutMs?: number;
  /** Stop after this many turns (warm-up); default unlimited. */
  readonly maxTurns?: number;
  /** Gap in playout counted as a stall, ms. Default 20. */
  readonly stallThresholdMs?: number;
}

interface Expected {
  readonly index: number;
  readonly text: string;
  /** Audio the simulator produces for it, ms. */
  readonly ms: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms > 0 ? ms : 0));

export abstract class CallBase {
  protected readonly stats: RunStats;
  protected readonly playout: PlayoutClock;
  protected readonly segmenter: Segmenter = createSegmenter({ language: 'en', eagerFirst: true });
  private readonly rng: () => number;
  /** Segments cut over the whole call: the index the next segment gets. */
  protected cutTotal = 0;
  /** Index of the turn's first segment. */
  protected turnBase = 0;
  protected inTurn = false;
  protected cancelSent = false;
  /** Flush sent for the current turn. */
  protected flushed = false;
  private turnT0 = 0;
  private firstAudioSeen = false;
  /** The current turn started at or after stats.measureFrom (it is timed). */
  protected measured = true;
  private cancelAfter = -1;
  private cancelTimer: NodeJS.Timeout | undefined;
  private finishTurn: ((how: 'done' | 'cancelled') => void) | null = null;
  /** The current turn had a stall. */
  private turnStalled = false;
  protected closed = false;

  constructor(
    readonly id: string,
    protected readonly options: CallOptions,
  ) {
    this.stats = options.stats;
    this.rng = createRng(options.seed);
    this.playout = new PlayoutClock(options.stallThresholdMs ?? 20);
  }

  /** Transport: a text delta. */
  protected abstract sendText(delta: string): void;
  /** Transport: end of turn. */
  protected abstract sendFlush(): void;
  /** Transport: barge-in. */
  protected abstract sendCancel(): void;
  /** Transport: segments the client's segmenter just cut (expected order). */
  protected abstract segmentsCut(segments: Expected[]): void;
  /** Transport: the flush's segments have been cut (the turn's text is complete). */
  protected flushCut(): void {}
  abstract close(): void;

  /** Turns until `deadline` (performance.now()), then returns. */
  async run(deadline: number): Promise<void> {
    const maxTurns = this.options.maxTurns ?? Infinity;
    const think = this.options.thinkMs ?? [500, 1500];
    for (let turns = 0; turns < maxTurns && !this.closed && performance.now() < deadline; turns++) {
      const how = await this.turn();
      if (how === 'timeout' || this.closed) return;
      const pause = think[0] + this.rng() * (think[1] - think[0]);
      const playing = how === 'done' ? this.playout.endsAt - performance.now() : 0;
      const wait = Math.max(0, playing) + pause;
      // The next turn would start after the deadline: the call is over.
      if (performance.now() + wait >= deadline) return;
      await sleep(wait);
    }
  }

  private async turn(): Promise<'done' | 'cancelled' | 'timeout'> {
    const tokens = tokenize(turnText(this.rng));
    const cancelRange = this.options.cancelAfterMs ?? [300, 2500];
    this.cancelAfter = this.rng() < (this.options.cancelShare ?? 0.2) ? cancelRange[0] + this.rng() * (cancelRange[1] - cancelRange[0]) : -1;
    this.inTurn = true;
    this.cancelSent = false;
    this.flushed = false;
    this.firstAudioSeen = false;
    this.turnT0 = 0;
    this.turnBase = this.cutTotal;
    this.playout.reset();
    this.turnStalled = false;
    this.measured = performance.now() >= this.stats.measureFrom;
    if (this.measured) this.stats.turnsStarted++;
    else this.stats.warmupTurns++;
    const finished = new Promise<'done' | 'cancelled'>((resolve) => (this.finishTurn = resolve));
    const interval = this.options.tokenIntervalMs ?? 20;
    let i = 0;
    const streamed = new Promise<void>((resolve) => {
      const tick = (): void => {
        if (this.cancelSent || this.closed) return resolve();
        const now = performance.now();
        if (i < tokens.length) {
          const token = tokens[i++]!;
          this.sendText(token);
          this.cut(this.segmenter.push(token), now);
          setTimeout(tick, interval);
        } else {
          this.flushed = true;
          this.sendFlush();
          this.cut(this.segmenter.flush(), now);
          this.flushCut();
          resolve();
        }
      };
      tick();
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.options.turnTimeoutMs ?? 30_000)));
    const how = await Promise.race([finished, timeout]);
    clearTimeout(timer);
    clearTimeout(this.cancelTimer);
    await streamed;
    this.inTurn = false;
    this.finishTurn = null;
    if (this.measured && this.turnStalled) this.stats.stalledTurns++;
    if (how === 'timeout') {
      this.stats.turnsTimedOut++;
      this.stats.problem(this.id, `turn starting at segment ${this.turnBase} did not finish in time`);
    } else if (how === 'done' && this.measured) this.stats.turnsCompleted++;
    return how;
  }

  private cut(texts: readonly string[], at: number): void {
    if (texts.length === 0) return;
    const out: Expected[] = [];
    for (const raw of texts) {
      // The gateway normalizes each segment and skips those left empty (without an index).
      const text = normalizeForSpeech(raw);
      if (text.trim().length === 0) continue;
      out.push({ index: this.cutTotal++, text, ms: textDurationMs(text) });
    }
    if (out.length === 0) return;
    if (this.turnT0 === 0) this.turnT0 = at;
    this.segmentsCut(out);
  }

  /** Transport: audio of the current turn reached the caller. */
  protected audio(now: number, ms: number): void {
    if (!this.firstAudioSeen) {
      this.firstAudioSeen = true;
      if (this.measured) this.stats.ttfa.push(now - this.turnT0);
      if (this.cancelAfter >= 0) this.cancelTimer = setTimeout(() => this.bargeIn(), this.cancelAfter);
    }
    const gap = this.playout.frame(now, ms);
    if (gap > 0) {
      this.turnStalled = true;
      if (!this.measured) return;
      this.stats.stalls++;
      this.stats.stallMs += gap;
      if (gap > this.stats.maxStallMs) this.stats.maxStallMs = gap;
    }
  }

  private bargeIn(): void {
    if (!this.inTurn || this.cancelSent || this.finishTurn === null || this.closed) return;
    this.cancelSent = true;
    this.stats.cancelsSent++;
    this.segmenter.reset();
    this.sendCancel();
  }

  /** Transport: the turn is over (every segment and the turn end, or the cancel confirmed). */
  protected endTurn(how: 'done' | 'cancelled'): void {
    const finish = this.finishTurn;
    this.finishTurn = null;
    finish?.(how);
  }

}

export interface GatewayCallOptions extends CallOptions {
  /** ws://host:port/v1/stream */
  readonly url: string;
  readonly encoding: Encoding;
  readonly sampleRate: number;
  readonly frameMs: number;
}

/** Bytes per millisecond of audio in an encoding at a rate. */
export function bytesPerMs(encoding: Encoding, sampleRate: number): number {
  return (bytesPerSample(encoding) * sampleRate) / 1000;
}

/** The gateway turned the call away on purpose (server.max_sessions, lag, drain). */
export class CallRefused extends Error {
  override readonly name = 'CallRefused';
  constructor(readonly code: string) {
    super(`refused: ${code}`);
  }
}

const REFUSAL_CODES: ReadonlySet<string> = new Set(['at_capacity', 'overloaded', 'shutting_down']);

/** A refusal from an error message body (upgrade answer or fatal error at start), else null. */
function refusalOf(body: string): CallRefused | null {
  try {
    const msg = JSON.parse(body) as { type?: string; code?: string };
    return msg.type === 'error' && msg.code && REFUSAL_CODES.has(msg.code) ? new CallRefused(msg.code) : null;
  } catch {
    return null;
  }
}

/** A call through voicegate's /v1/stream, checking the exactly-once in-order contract live. */
export class GatewayCall extends CallBase {
  private ws: WebSocket | null = null;
  private readonly bpm: number;
  /** Expected segments of the turn not yet ended, in order. */
  private readonly expected: Expected[] = [];
  private nextAnnounce = 0;
  private open: Expected | null = null;
  private openBytes = 0;
  private turnEndSeen = false;

  constructor(
    id: string,
    private readonly gw: GatewayCallOptions,
  ) {
    super(id, gw);
    this.bpm = bytesPerMs(gw.encoding, gw.sampleRate);
  }

  /** Opens the socket, sends start, resolves on ready; rejects with CallRefused on a clean refusal. */
  connect(timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${this.gw.url}?session_id=${encodeURIComponent(this.id)}`, { perMessageDeflate: false });
      this.ws = ws;
      const timer = setTimeout(() => fail(new Error('no ready in time')), timeoutMs);
      let ready = false;
      const fail = (err: Error): void => {
        clearTimeout(timer);
        if (!ready) reject(err);
      };
      ws.once('error', fail);
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += String(d)));
        res.on('end', () => fail(refusalOf(body) ?? new Error(`upgrade answered ${res.statusCode}: ${body.slice(0, 200)}`)));
      });
      ws.once('open', () => {
        ws.send(JSON.stringify({ type: 'start', voice: 'af_heart', format: { encoding: this.gw.encoding, sample_rate: this.gw.sampleRate }, frame_ms: this.gw.frameMs }));
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!ready) {
          const msg = JSON.parse(String(data)) as { type: string };
          if (msg.type !== 'ready') return fail(refusalOf(String(data)) ?? new Error(`expected ready, got ${String(data).slice(0, 200)}`));
          ready = true;
          clearTimeout(timer);
          ws.off('error', fail);
          ws.on('error', (err) => this.stats.problem(this.id, `socket error ${err.message}`));
          resolve();
          return;
        }
        if (isBinary) this.onAudio(data.length);
        else this.onEvent(JSON.parse(String(data)) as Record<string, unknown>);
      });
      ws.on('close', (code) => {
        if (!ready) fail(new Error(`closed ${code} before ready`));
        else if (!this.closed) {
          this.stats.problem(this.id, `socket closed by the gateway (${code})`);
          this.closed = true;
          this.endTurn('cancelled');
        }
      });
    });
  }

  protected sendText(delta: string): void {
    this.ws!.send(`{"type":"text","text":${JSON.stringify(delta)}}`);
  }

  protected sendFlush(): void {
    this.turnEndSeen = false;
    this.ws!.send('{"type":"flush"}');
  }

  protected sendCancel(): void {
    this.ws!.send('{"type":"cancel"}');
  }

  protected segmentsCut(segments: Expected[]): void {
    for (const s of segments) this.expected.push(s);
  }

  private onAudio(bytes: number): void {
    if (this.open === null) {
      this.stats.problem(this.id, `${bytes} bytes of audio outside any segment${this.cancelSent ? ' (after cancel)' : ''}`);
      return;
    }
    this.openBytes += bytes;
    if (!this.cancelSent) this.audio(performance.now(), bytes / this.bpm);
  }

  private onEvent(msg: Record<string, unknown>): void {
    switch (msg.type) {
      case 'segment': {
        const head = this.expected[0];
        if (this.open !== null) this.stats.problem(this.id, `segment ${String(msg.index)} while ${this.open.index} is open`);
        if (!head || msg.index !== head.index || msg.index !== this.nextAnnounce) {
          this.stats.problem(this.id, `segment ${String(msg.index)} announced, expected ${head?.index ?? 'none'}`);
          return;
        }
        if (msg.text !== head.text) this.stats.problem(this.id, `segment ${head.index} text ${JSON.stringify(msg.text)} ≠ ${JSON.stringify(head.text)}`);
        this.open = head;
        this.openBytes = 0;
        this.nextAnnounce++;
        return;
      }
      case 'segment_end': {
        const open = this.open;
        if (!open || msg.index !== open.index) {
          this.stats.problem(this.id, `segment_end ${String(msg.index)} but open is ${open?.index ?? 'none'}`);
          return;
        }
        const audioMs = Number(msg.audio_ms);
        if (Math.abs(this.openBytes - audioMs * this.bpm) > this.bpm * 2) this.stats.problem(this.id, `segment ${open.index}: ${this.openBytes} bytes but audio_ms ${audioMs}`);
        const tolerance = Math.max(this.gw.frameMs, 2) + 2;
        if (Math.abs(audioMs - open.ms) > tolerance) this.stats.problem(this.id, `segment ${open.index}: audio_ms ${audioMs}, expected ${open.ms}`);
        this.expected.shift();
        this.open = null;
        this.stats.segments++;
        if (this.measured) this.stats.audioMs += audioMs;
        return;
      }
      case 'turn_end': {
        if (!this.inTurn || !this.flushed || this.turnEndSeen) {
          this.stats.problem(this.id, 'turn_end outside a flushed turn');
          return;
        }
        this.turnEndSeen = true;
        if (this.cancelSent) return; // raced the cancel: the cancelled confirmation ends the turn
        if (this.expected.length > 0 || this.open !== null || this.nextAnnounce !== this.cutTotal) {
          this.stats.problem(this.id, `turn_end with segments ${this.expected.map((e) => e.index).join(',')} missing (next ${this.nextAnnounce}, cut ${this.cutTotal})`);
          this.expected.length = 0;
        }
        this.endTurn('done');
        return;
      }
      case 'cancelled': {
        if (!this.cancelSent) {
          this.stats.problem(this.id, 'cancelled without a cancel');
          return;
        }
        this.stats.cancelsConfirmed++;
        // Segments cut before the cancel but never announced keep their indices (the gateway counts them).
        this.expected.length = 0;
        this.open = null;
        this.nextAnnounce = this.cutTotal;
        this.endTurn('cancelled');
        return;
      }
      case 'failover':
        this.stats.failovers++;
        if (msg.replay === true) this.openBytes = 0;
        return;
      case 'error':
        this.stats.problem(this.id, `error ${String(msg.code)}: ${String(msg.message)}`);
        return;
      default:
        this.stats.problem(this.id, `unexpected ${JSON.stringify(msg).slice(0, 120)}`);
    }
  }

  close(): void {
    this.closed = true;
    this.endTurn('cancelled');
    this.ws?.close(1000);
  }

  /** Drops the socket without the closing handshake (end of a run with thousands of sockets). */
  terminate(): void {
    this.ws?.terminate();
  }
}

export interface DirectCallOptions extends CallOptions {
  /** Keep-alive pool to the simulator instance this call is pinned to. */
  readonly pool: Pool;
  /** Segments requested at once (the gateway's session.lookahead). Default 2. */
  readonly lookahead?: number;
}

interface DirectSegment extends Expected {
  started: boolean;
  done: boolean;
  bytes: number;
  /** Bytes received but not yet delivered (a later segment waits for the earlier). */
  pendingBytes: number;
  readonly controller: AbortController;
}

/** Bytes per ms of the simulator's native output (24 kHz s16le). */
const SIM_BYTES_PER_MS = bytesPerMs('pcm_s16le', SIM_SAMPLE_RATE);

/** The same call straight to the simulator: per-segment HTTP requests, in-order delivery. */
export class DirectCall extends CallBase {
  private readonly queue: DirectSegment[] = [];

  constructor(
    id: string,
    private readonly direct: DirectCallOptions,
  ) {
    super(id, direct);
  }

  protected sendText(): void {}

  protected sendFlush(): void {}

  protected override flushCut(): void {
    this.pump();
  }

  protected sendCancel(): void {
    for (const seg of this.queue) seg.controller.abort();
    this.queue.length = 0;
    this.stats.cancelsConfirmed++;
    this.endTurn('cancelled');
  }

  protected segmentsCut(segments: Expected[]): void {
    for (const s of segments) this.queue.push({ ...s, started: false, done: false, bytes: 0, pendingBytes: 0, controller: new AbortController() });
    this.startRequests();
  }

  private startRequests(): void {
    const lookahead = this.direct.lookahead ?? 2;
    for (let i = 0; i < this.queue.length && i < lookahead; i++) {
      const seg = this.queue[i]!;
      if (!seg.started) {
        seg.started = true;
        this.request(seg);
      }
    }
  }

  private request(seg: DirectSegment): void {
    const body = JSON.stringify({ model: 'kokoro', input: seg.text, voice: 'af_heart', response_format: 'pcm' });
    this.direct.pool
      .request({ path: '/v1/audio/speech', method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: seg.controller.signal })
      .then(
        (res) => {
          if (res.statusCode !== 200) {
            this.stats.problem(this.id, `segment ${seg.index}: status ${res.statusCode}`);
            res.body.resume();
            seg.done = true;
            this.pump();
            return;
          }
          res.body.on('data', (chunk: Buffer) => {
            seg.pendingBytes += chunk.length;
            if (this.queue[0] === seg) this.pump();
          });
          res.body.on('end', () => {
            seg.done = true;
            this.pump();
          });
          res.body.on('error', (err: Error) => {
            if (!seg.controller.signal.aborted) this.stats.problem(this.id, `segment ${seg.index}: ${err.message}`);
          });
        },
        (err: Error) => {
          if (!seg.controller.signal.aborted) {
            this.stats.problem(this.id, `segment ${seg.index}: ${err.message}`);
            seg.done = true;
            this.pump();
          }
        },
      );
  }

  /** Delivers audio in segment order; a later segment's audio waits for the earlier to end. */
  private pump(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.controller.signal.aborted) return;
      if (head.pendingBytes > 0) {
        // Chunks delivered at one instant play as one: the same playout as one call per chunk.
        head.bytes += head.pendingBytes;
        this.audio(performance.now(), head.pendingBytes / SIM_BYTES_PER_MS);
        head.pendingBytes = 0;
      }
      if (!head.done) return;
      if (Math.abs(head.bytes / SIM_BYTES_PER_MS - head.ms) > 2) this.stats.problem(this.id, `segment ${head.index}: ${head.bytes} bytes, expected ${head.ms} ms`);
      else {
        this.stats.segments++;
        if (this.measured) this.stats.audioMs += head.ms;
      }
      this.queue.shift();
      this.startRequests();
    }
    if (this.inTurn && this.flushed && !this.cancelSent) this.endTurn('done');
  }

  close(): void {
    this.closed = true;
    for (const seg of this.queue) seg.controller.abort();
    this.queue.length = 0;
    this.endTurn('cancelled');
  }
}
