/**
 * A call session (DESIGN.md §1): owns its pin, its segmenter, an ordered queue of segments,
 * at most `lookahead` segments synthesizing at once, and the output toward the client.
 *
 * Transport-agnostic: it talks to a SessionSink, so the native WebSocket protocol, the
 * Twilio media-stream mode and the HTTP speech API all run on this same core.
 *
 * Ordering: items (segments, marks, turn ends) are delivered strictly in queue order; audio
 * of segment n+1 never precedes the end of segment n even when n+1 finished first.
 * Cancellation: one AbortController per epoch (everything queued since the last cancel).
 */
import type { BackendAudio, OutputFormat } from '../audio/format.ts';
import type { SessionConfig, TimeoutsConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Instance, Router } from '../routing/router.ts';
import type { RetryBudget } from './retry-budget.ts';
import { Segment } from './segment.ts';
import { Synthesizer, type FallbackProvider } from './synthesizer.ts';

/** The text segmenter contract (src/text/segmenter.ts). */
export interface SegmenterLike {
  push(delta: string): string[];
  flush(): string[];
  /** The idle timer fired: whatever can be spoken now. */
  idle(): string[];
  reset(): void;
}

/** The audio output contract (src/audio/output.ts). */
export interface AudioOutputLike {
  write(chunk: BackendAudio): void;
  end(): void;
  reset(): void;
  readonly emittedMs: number;
  resetCount(): void;
}

/** Where a session's output goes: a WebSocket, a Twilio stream, an HTTP response. */
export interface SessionSink {
  /** A segment starts (before its first audio). */
  segment(index: number, text: string, provider: string): void;
  /** Encoded, framed audio ready for the client (the sink may keep the buffer). */
  audio(frame: Uint8Array): void;
  segmentEnd(index: number, audioMs: number): void;
  failover(index: number, from: string, to: string, reason: string, replay: boolean): void;
  turnEnd(): void;
  cancelled(): void;
  mark(name: string): void;
  /** A non-fatal error tied to the session (e.g. a segment no provider could speak). */
  error(code: 'synthesis_failed' | 'turn_too_long', message: string): void;
  /** Bytes queued toward the client; above the limit the session holds audio back. */
  bufferedAmount(): number;
  /** Runs `fn` with the transport's writes coalesced (Connection.cork); else just runs it. */
  cork(fn: () => void): void;
}

export interface SessionOptions {
  readonly id: string;
  /** Pinning key: the call id (session_id) or the connection id. */
  readonly key: string;
  readonly format: OutputFormat;
  readonly voice: string;
  readonly language: string | undefined;
  readonly speed?: number;
  readonly router: Router | null;
  readonly pool: string;
  readonly timeouts: TimeoutsConfig;
  readonly queueMs: number;
  readonly fallback: FallbackProvider | null;
  readonly retryBudget: RetryBudget | null;
  readonly config: SessionConfig;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly sink: SessionSink;
  readonly segmenter: SegmenterLike;
  readonly createOutput: (format: OutputFormat, onFrame: (frame: Uint8Array) => void) => AudioOutputLike;
  /** Normalization applied to each segment before synthesis (markdown, emoji). */
  readonly normalize?: (text: string) => string;
  /** Called once when the session closes (the factory's live-session registry). */
  readonly onClose?: (session: Session) => void;
}

type QueueItem = Segment | { readonly kind: 'mark'; readonly name: string } | { readonly kind: 'turn_end' };

const TURN_END: QueueItem = Object.freeze({ kind: 'turn_end' as const });

export interface SessionStats {
  segments: number;
  audioMs: number;
  failovers: number;
}

export class Session {
  readonly stats: SessionStats = { segments: 0, audioMs: 0, failovers: 0 };
  private readonly synth: Synthesizer;
  private readonly queue: QueueItem[] = [];
  private readonly output: AudioOutputLike;
  private epoch = new AbortController();
  private nextIndex = 0;
  private turnChars = 0;
  private closed = false;
  private pumping = false;
  /** performance.now() of the first text since the last cut (segment_wait_seconds). */
  private firstTextAt = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private heldBack = false;
  /** Resolves when the queue empties (graceful drain waits on it). */
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly options: SessionOptions,
    pin: Instance | null,
  ) {
    const { sink } = options;
    this.output = options.createOutput(options.format, (frame) => sink.audio(frame));
    this.synth = new Synthesizer(
      {
        sessionKey: options.key,
        router: options.router,
        timeouts: options.timeouts,
        queueMs: options.queueMs,
        fallback: options.fallback,
        voice: options.voice,
        language: options.language,
        speed: options.speed,
        output: options.format,
        session: options.config,
        metrics: options.metrics,
        retryBudget: options.retryBudget,
        onProgress: (segment) => this.onProgress(segment),
        onRepin: (to) => options.logger.info({ instance: to?.id ?? 'cartesia' }, 'session re-pinned'),
      },
      pin,
    );
  }

  /** The provider the session is pinned to: an instance id, or `cartesia`. */
  get pinId(): string {
    return this.synth.pin?.id ?? 'cartesia';
  }

  get poolName(): string {
    return this.options.pool;
  }

  get voice(): string {
    return this.options.voice;
  }

  text(delta: string): void {
    if (this.closed || delta.length === 0) return;
    if (this.turnChars + delta.length > this.options.config.max_turn_chars) {
      this.options.sink.error('turn_too_long', `a turn may buffer at most ${this.options.config.max_turn_chars} characters; flush more often`);
      return;
    }
    this.turnChars += delta.length;
    if (this.firstTextAt === 0) this.firstTextAt = performance.now();
    this.enqueueTexts(this.options.segmenter.push(delta));
    this.armIdleTimer();
  }

  flush(): void {
    if (this.closed) return;
    this.clearIdleTimer();
    this.enqueueTexts(this.options.segmenter.flush());
    this.turnChars = 0;
    this.queue.push(TURN_END);
    this.pump();
  }

  mark(name: string): void {
    if (this.closed) return;
    this.queue.push({ kind: 'mark', name });
    this.pump();
  }

  /** Barge-in: drop buffered text, abort every in-flight request, send no more of it. */
  cancel(): void {
    if (this.closed) return;
    this.clearIdleTimer();
    this.epoch.abort();
    this.epoch = new AbortController();
    this.options.segmenter.reset();
    this.turnChars = 0;
    this.firstTextAt = 0;
    // Marks whose audio is dropped are echoed (as Twilio does on clear): nothing of it remains.
    for (const item of this.queue) if (!(item instanceof Segment) && item.kind === 'mark') this.options.sink.mark(item.name);
    this.queue.length = 0;
    this.output.reset();
    this.output.resetCount();
    this.options.sink.cancelled();
    this.notifyIdle();
  }

  /** The client's socket drained: resume delivery. */
  drained(): void {
    if (this.heldBack) {
      this.heldBack = false;
      this.pump();
    }
  }

  /** Resolves once everything queued has been delivered (or the session closed). */
  whenIdle(): Promise<void> {
    if (this.queue.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearIdleTimer();
    this.epoch.abort();
    this.queue.length = 0;
    const pin = this.synth.pin;
    if (pin) this.options.router?.release(this.options.key, pin);
    this.notifyIdle();
    this.options.onClose?.(this);
  }

  private enqueueTexts(texts: string[]): void {
    if (texts.length === 0) return;
    const now = performance.now();
    if (this.firstTextAt !== 0) this.options.metrics.segmentWait.observe((now - this.firstTextAt) / 1000);
    this.firstTextAt = 0;
    const normalize = this.options.normalize;
    for (const raw of texts) {
      const text = normalize ? normalize(raw) : raw;
      if (text.trim().length === 0) continue;
      this.queue.push(new Segment(this.nextIndex++, text, this.epoch.signal));
    }
    this.startSynthesis();
    this.pump();
  }

  private armIdleTimer(): void {
    const ms = this.options.config.idle_flush_ms;
    if (ms <= 0) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (!this.closed) this.enqueueTexts(this.options.segmenter.idle());
      }, ms);
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private onProgress(segment: Segment): void {
    if (segment.signal.aborted || this.closed) return;
    // A finished segment stays queued until delivered, so it frees no lookahead room yet: the
    // room opens when deliver shifts it, and deliver starts the next one then.
    if (this.queue[0] === segment || segment.state === 'done' || segment.state === 'failed') this.pump();
  }

  /**
   * Starts synthesis of the first `lookahead` undelivered segments. A segment leaves the queue
   * only once done or failed, so no more than `lookahead` of this turn's segments synthesize
   * at once; a cancel's aborted runs are released by the synthesizer.
   */
  private startSynthesis(): void {
    const lookahead = this.options.config.lookahead;
    let seen = 0;
    for (const item of this.queue) {
      if (!(item instanceof Segment)) continue;
      if (seen++ >= lookahead) break;
      if (item.state === 'queued') void this.synth.run(item);
    }
  }

  /** Delivers what can be delivered, in order. Re-entrant calls fold into the running one. */
  private pump(): void {
    if (this.pumping || this.closed) return;
    this.options.sink.cork(this.deliver);
  }

  /** pump's body, bound once: everything one pump sends leaves in one corked write. */
  private readonly deliver = (): void => {
    this.pumping = true;
    try {
      const { sink } = this.options;
      const limit = this.options.config.max_buffered_bytes;
      while (this.queue.length > 0) {
        const head = this.queue[0]!;
        if (!(head instanceof Segment)) {
          if (head.kind === 'mark') sink.mark(head.name);
          else sink.turnEnd();
          this.queue.shift();
          continue;
        }
        // From when it became the head: the time before that is the previous segment playing.
        if (head.ttfaFrom === 0) head.ttfaFrom = performance.now();
        for (const move of head.moves) {
          this.stats.failovers++;
          sink.failover(head.index, move.from, move.to, move.reason, move.replay);
          if (move.replay) {
            this.output.reset();
            this.output.resetCount();
          }
        }
        head.moves.length = 0;
        while (head.pending) {
          if (sink.bufferedAmount() > limit) {
            if (!this.heldBack) this.options.metrics.clientBackpressure.inc();
            this.heldBack = true;
            return;
          }
          if (!head.announced) {
            head.announced = true;
            sink.segment(head.index, head.text, head.provider);
            this.options.metrics.ttfa.observe((performance.now() - head.ttfaFrom) / 1000);
          }
          this.output.write(head.take()!);
        }
        if (head.state === 'done') {
          if (head.announced) {
            this.output.end();
            const ms = this.output.emittedMs;
            this.output.resetCount();
            this.stats.segments++;
            this.stats.audioMs += ms;
            this.options.metrics.audioSeconds.inc({ provider: head.provider }, ms / 1000);
            sink.segmentEnd(head.index, ms);
          }
          this.queue.shift();
          this.startSynthesis();
          continue;
        }
        if (head.state === 'failed') {
          if (head.announced) {
            this.output.end();
            this.output.resetCount();
          }
          sink.error('synthesis_failed', `segment ${head.index} could not be synthesized: ${head.error ?? 'unknown error'}`);
          this.queue.shift();
          this.startSynthesis();
          continue;
        }
        return; // head still synthesizing: wait for onProgress
      }
      this.notifyIdle();
    } finally {
      this.pumping = false;
    }
  };

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
