/**
 * A call session (DESIGN.md §1): owns its pin, its segmenter, an ordered queue of segments,
 * at most `lookahead` segments synthesizing at once, and the output toward the client.
 *
 * Transport-agnostic: it talks to a SessionSink, so the native WebSocket protocol, the
 * Twilio media-stream mode, the HTTP speech API and the drop-in front ends all run on this
 * same core.
 *
 * Ordering: items (segments, marks, turn ends) are delivered strictly in queue order; audio
 * of segment n+1 never precedes the end of segment n even when n+1 finished first.
 * Cancellation: every queued segment's own AbortController (cancel aborts them all).
 * The Session is the only writer of its segments' state: the Synthesizer reports events, the
 * Placement owns the pin; every move of a segment is recorded in one place (recordMove).
 */
import type { BackendAudio, OutputFormat } from '../audio/format.ts';
import type { SessionConfig } from '../config.ts';
import type { SessionReportCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Placement } from './placement.ts';
import { FALLBACK_PROVIDER } from './fallback.ts';
import { Segment } from './segment.ts';
import { Synthesizer, type SynthesisEvent } from './synthesizer.ts';

/** The text segmenter contract (src/text/segmenter.ts). */
export interface SegmenterLike {
  /** The segments this delta completed; read-only (the segmenter may return a shared empty array). */
  push(delta: string): readonly string[];
  flush(): readonly string[];
  /** The idle timer fired: whatever can be spoken now. */
  idle(): readonly string[];
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
  /** `voiceChanged`: the move is to (or back from) a fallback that does not speak the session's voice. */
  failover(index: number, from: string, to: string, reason: string, replay: boolean, voiceChanged: boolean): void;
  /** Segment `index` waits for capacity (longer than the pool's first_audio_ms), at `position`. */
  waiting(index: number, position: number): void;
  /** The gateway drains: finish what is started within `deadlineMs`, then reconnect elsewhere. */
  draining(deadlineMs: number): void;
  /**
   * The client does not read and is past a per-session bound (queued turns, pending marks,
   * held audio): the transport sends a fatal `client_too_slow` and closes (1008). The session
   * has already closed itself, so its slots are free.
   */
  tooSlow(message: string): void;
  turnEnd(): void;
  cancelled(): void;
  mark(name: string): void;
  /**
   * A non-fatal error tied to the session: a segment a provider refused (`synthesis_failed`),
   * a turn whose segments `segments` waited past max_wait_ms (`fleet_saturated`, once per turn),
   * a turn over max_turn_chars (`turn_too_long`).
   */
  error(code: SessionErrorCode, message: string, segments?: readonly number[]): void;
  /** Bytes queued toward the client; above the limit the session holds audio back. */
  bufferedAmount(): number;
  /** Runs `fn` with the transport's writes coalesced (Connection.cork); else just runs it. */
  cork(fn: () => void): void;
}

/** The codes of SessionSink.error (listed with the others in src/errors.ts). */
export type SessionErrorCode = SessionReportCode;

/**
 * While draining, a turn begun after the notice is spoken only if its audio can all be sent by
 * the deadline, judged from its text: ~70 ms of speech a character (a normal speaking rate),
 * synthesized at half real time (an assumption, not a measurement: the simulator's default
 * real-time factor is 0.2), plus one second for its first audio. Not a key: it only decides refuse-now versus cut-later, and errs toward refusing.
 */
export const DRAIN_MS_PER_CHAR = 35;
const DRAIN_FIRST_AUDIO_ALLOWANCE_MS = 1000;

export interface SessionOptions {
  readonly id: string;
  /** Pinning key: the call id (session_id) or the connection id. */
  readonly key: string;
  readonly format: OutputFormat;
  readonly voice: string;
  readonly language: string | undefined;
  readonly speed?: number;
  /** Style instructions for every segment (the HTTP speech API's `instructions`). */
  readonly instructions?: string;
  readonly pool: string;
  /** Where segments go: owns the pin, candidates, fallback and the wait. */
  readonly placement: Placement;
  /** HTTP speech requests wait behind calls in the pool's queue. Default false. */
  readonly http?: boolean;
  readonly config: SessionConfig;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly sink: SessionSink;
  readonly segmenter: SegmenterLike;
  readonly createOutput: (format: OutputFormat, onFrame: (frame: Uint8Array) => void) => AudioOutputLike;
  /** Normalization applied to each segment before synthesis (markdown, emoji). */
  readonly normalize?: (text: string) => string;
  /**
   * Whether the fallback speaks another voice than `voice` (a library voice without a clone
   * there: VoiceLibrary.fallbackChangesVoice). Asked at each move to or from the fallback, so
   * its `failover` event can say the voice changed. Default: it speaks the same voice.
   */
  readonly fallbackChangesVoice?: (voice: string) => boolean;
  /** Called once when the session closes (the factory's live-session registry). */
  readonly onClose?: (session: Session) => void;
}

type QueueItem = Segment | { readonly kind: 'mark'; readonly name: string } | { readonly kind: 'turn_end'; readonly turn: number };

export interface SessionStats {
  segments: number;
  audioMs: number;
  failovers: number;
}

export class Session {
  readonly stats: SessionStats = { segments: 0, audioMs: 0, failovers: 0 };
  private readonly synth: Synthesizer;
  private readonly placement: Placement;
  private readonly queue: QueueItem[] = [];
  private readonly output: AudioOutputLike;
  private nextIndex = 0;
  /** The turn being written (counts flushes and cancels). */
  private turn = 0;
  /** Segments cut in the current turn so far (the first is a new turn's, the rest continue it). */
  private turnSegments = 0;
  /** Turns whose segments gave up (fleet_saturated) → the indices not spoken, until reported. */
  private readonly unspoken = new Map<number, number[]>();
  /** The provider the client heard last (the pin in `ready` before any audio). */
  private lastProvider: string;
  private turnChars = 0;
  private closed = false;
  private pumping = false;
  /** performance.now() of the first text since the last cut (segment_wait_seconds). */
  private firstTextAt = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private heldBack = false;
  /** Audio synthesized and not yet handed to the client (bytes), bounded by max_held_bytes. */
  private heldBytes = 0;
  /** performance.now() at which the caller will have heard all the audio sent so far (real-time playback). */
  private playsUntil = 0;
  /** Audio sent and not heard yet, ms: how long this session's next segment can wait (wait-queue.ts). */
  private readonly aheadMs = (): number => Math.max(0, this.playsUntil - performance.now());
  /** Marks and turn ends queued, bounded by max_pending_marks and max_queued_turns. */
  private pendingMarks = 0;
  private queuedTurns = 0;
  /** performance.now() by which a draining session must be done (0: not draining). */
  private drainDeadline = 0;
  /** While draining, a turn begun after the notice is held here until its flush decides. */
  private heldTurn: string[] | null = null;
  /** Resolves when the queue empties (graceful drain waits on it). */
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: SessionOptions) {
    const { sink } = options;
    this.placement = options.placement;
    this.lastProvider = options.placement.pinId;
    this.output = options.createOutput(options.format, (frame) => sink.audio(frame));
    this.synth = new Synthesizer({
      placement: options.placement,
      // `auto` picks the segmenter's rules by script; a backend is told no language instead.
      language: options.language === 'auto' ? undefined : options.language,
      speed: options.speed,
      instructions: options.instructions,
      output: options.format,
      metrics: options.metrics,
      maxWaitMs: options.config.max_wait_ms,
    });
  }

  /** The provider the session is pinned to: an instance id, or `cartesia`. */
  get pinId(): string {
    return this.placement.pinId;
  }

  /** The session id (the client's session_id, a request id, or a connection id). */
  get id(): string {
    return this.options.id;
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
    // A new turn after the drain notice waits for its flush: it is spoken only if it fits.
    if (this.turnChars === 0 && this.drainDeadline !== 0) this.heldTurn = [];
    this.turnChars += delta.length;
    if (this.heldTurn) {
      this.heldTurn.push(delta);
      return;
    }
    if (this.firstTextAt === 0) this.firstTextAt = performance.now();
    this.enqueueTexts(this.options.segmenter.push(delta));
    this.armIdleTimer();
  }

  flush(): void {
    if (this.closed) return;
    if (this.heldTurn && !this.admitHeldTurn()) return;
    if (this.queuedTurns >= this.options.config.max_queued_turns) {
      this.tooSlow(`more than ${this.options.config.max_queued_turns} turns wait for a client that does not read (session.max_queued_turns)`);
      return;
    }
    this.clearIdleTimer();
    this.enqueueTexts(this.options.segmenter.flush());
    this.turnChars = 0;
    this.queue.push({ kind: 'turn_end', turn: this.turn });
    this.queuedTurns++;
    this.nextTurn();
    this.pump();
  }

  mark(name: string): void {
    if (this.closed) return;
    if (this.pendingMarks >= this.options.config.max_pending_marks) {
      this.tooSlow(`more than ${this.options.config.max_pending_marks} marks wait for a client that does not read (session.max_pending_marks)`);
      return;
    }
    this.queue.push({ kind: 'mark', name });
    this.pendingMarks++;
    this.pump();
  }

  /**
   * The gateway drains: the client is told, the turn being written may finish, and a turn
   * begun from now on is spoken only if it can end by the deadline (else refused with
   * `shutting_down` before any of its audio, never cut mid-way).
   */
  drain(deadlineMs: number): void {
    if (this.closed || this.drainDeadline !== 0) return;
    this.drainDeadline = performance.now() + deadlineMs;
    this.options.sink.draining(deadlineMs);
  }

  /** Whether the turn held since the drain notice can end by the deadline; if not, refused. */
  private admitHeldTurn(): boolean {
    const text = this.heldTurn!.join('');
    this.heldTurn = null;
    const speed = this.options.speed && this.options.speed > 0 ? this.options.speed : 1;
    const needMs = DRAIN_FIRST_AUDIO_ALLOWANCE_MS + (text.length * DRAIN_MS_PER_CHAR) / speed;
    const leftMs = this.drainDeadline - performance.now();
    if (needMs <= leftMs) {
      if (this.firstTextAt === 0) this.firstTextAt = performance.now();
      this.enqueueTexts(this.options.segmenter.push(text));
      return true;
    }
    this.turnChars = 0;
    this.options.sink.error('shutting_down', `the gateway is shutting down in ${Math.max(0, Math.round(leftMs))} ms, too soon to speak this turn (about ${Math.round(needMs)} ms); say it on another replica`);
    this.queue.push({ kind: 'turn_end', turn: this.turn });
    this.queuedTurns++;
    this.nextTurn();
    this.pump();
    return false;
  }

  /** Past a per-session bound for a client that does not read: the session ends, slots freed. */
  private tooSlow(message: string): void {
    this.close();
    this.options.sink.tooSlow(message);
  }

  /** Barge-in: drop buffered text, abort every in-flight request, send no more of it. */
  cancel(): void {
    if (this.closed) return;
    this.clearIdleTimer();
    this.abortQueued();
    this.options.segmenter.reset();
    this.turnChars = 0;
    this.heldTurn = null;
    this.firstTextAt = 0;
    this.nextTurn();
    this.unspoken.clear();
    // Marks whose audio is dropped are echoed (as Twilio does on clear): nothing of it remains.
    for (const item of this.queue) if (!(item instanceof Segment) && item.kind === 'mark') this.options.sink.mark(item.name);
    this.queue.length = 0;
    this.heldBytes = 0;
    this.pendingMarks = 0;
    this.queuedTurns = 0;
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

  /**
   * Resolves once everything queued has been delivered and no turn is being written (a turn
   * counts from its first text to its turn_end), or the session closed.
   */
  whenIdle(): Promise<void> {
    if (this.idle || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private get idle(): boolean {
    // turnChars > 0: a turn is being written (text since the last flush or cancel).
    return this.queue.length === 0 && this.turnChars === 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearIdleTimer();
    this.abortQueued();
    this.queue.length = 0;
    this.placement.close();
    this.notifyIdle();
    this.options.onClose?.(this);
  }

  private enqueueTexts(texts: readonly string[]): void {
    if (texts.length === 0) return;
    const now = performance.now();
    if (this.firstTextAt !== 0) this.options.metrics.segmentWait.observe((now - this.firstTextAt) / 1000);
    this.firstTextAt = 0;
    const normalize = this.options.normalize;
    for (const raw of texts) {
      const text = normalize ? normalize(raw) : raw;
      if (text.trim().length === 0) continue;
      const klass = this.options.http ? 'http' : this.turnSegments++ === 0 ? 'new_turn' : 'continuing';
      const segment = new Segment(this.nextIndex++, text, this.turn, klass);
      this.queue.push(segment);
      // The turn already gave up (fleet_saturated): the rest of its answer is not spoken either.
      if (this.unspoken.has(this.turn)) this.giveUp(segment);
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

  /**
   * Starts synthesis of the first `lookahead` undelivered segments. A segment leaves the queue
   * only once delivered, so no more than `lookahead` of them synthesize at once.
   */
  private startSynthesis(): void {
    // A client that does not read gets no more audio made for it until it does (backpressure
    // into the session): what is in flight finishes, nothing new starts.
    if (this.heldBack) return;
    const lookahead = this.options.config.lookahead;
    let seen = 0;
    for (const item of this.queue) {
      if (!(item instanceof Segment)) continue;
      if (seen++ >= lookahead) break;
      if (item.state === 'queued') {
        item.state = 'synthesizing';
        const segment = item;
        void this.synth.run({ text: segment.text, klass: segment.klass, signal: segment.signal, aheadMs: this.aheadMs, emit: (event) => this.apply(segment, event) });
      }
    }
  }

  /** Applies one synthesis event to its segment: the only place segment state changes. */
  private apply(segment: Segment, event: SynthesisEvent): void {
    if (segment.signal.aborted || this.closed) return;
    switch (event.type) {
      case 'attempt':
        segment.provider = event.provider;
        return;
      case 'audio':
        segment.push(event.audio);
        this.heldBytes += audioBytes(event.audio);
        if (this.heldBytes > this.options.config.max_held_bytes) {
          this.tooSlow(`more than ${this.options.config.max_held_bytes} bytes of audio wait for a client that does not read (session.max_held_bytes)`);
          return;
        }
        if (this.queue[0] === segment) this.pump();
        return;
      case 'moved':
        this.recordMove(segment, event.from, event.to, event.reason, segment.announced);
        // The client hears of the move now, not with the new provider's first audio.
        if (this.queue[0] === segment) this.pump();
        return;
      case 'attempt_failed':
        this.heldBytes -= segment.undeliveredBytes();
        segment.discardUndelivered();
        if (segment.announced && this.options.config.on_partial_failure === 'skip') {
          // Part of it was heard: rather than replay it elsewhere, the call moves on.
          this.recordMove(segment, event.provider, 'none', event.reason, false);
          segment.controller.abort();
          segment.state = 'done';
          this.pump();
        }
        return;
      case 'waiting':
        if (segment.waitNoticed) return;
        segment.waitNoticed = true;
        this.options.sink.waiting(segment.index, event.position);
        return;
      case 'done':
        segment.state = 'done';
        this.pump();
        return;
      case 'failed':
        if (event.code === 'fleet_saturated') {
          this.giveUp(segment);
          this.pump();
          return;
        }
        segment.state = 'failed';
        segment.errorCode = event.code;
        segment.error = event.message;
        this.pump();
        return;
    }
  }

  /** Sends a segment's recorded moves to the client, in delivery order. */
  private emitMoves(head: Segment): void {
    for (const move of head.moves) {
      this.stats.failovers++;
      this.options.sink.failover(head.index, move.from, move.to, move.reason, move.replay, move.voiceChanged);
      if (move.to !== 'none') this.lastProvider = move.to;
      if (move.replay) {
        this.output.reset();
        this.output.resetCount();
      }
    }
    head.moves.length = 0;
  }

  /**
   * Every move of a segment, whatever its reason: the metric and the log line now, the client's
   * `failover` event in delivery order, all from this one record.
   */
  private recordMove(segment: Segment, from: string, to: string, reason: string, replay: boolean): void {
    // Onto the fallback, or back off it (not skipped: `none`), in a voice it does not have.
    const crossesFallback = to !== 'none' && (from === FALLBACK_PROVIDER) !== (to === FALLBACK_PROVIDER);
    const voiceChanged = crossesFallback && (this.options.fallbackChangesVoice?.(this.options.voice) ?? false);
    this.options.metrics.failovers.inc({ from, to, reason });
    this.options.logger.info({ index: segment.index, from, to, reason, replay, voice_changed: voiceChanged }, 'segment moved');
    segment.moves.push({ from, to, reason, replay, voiceChanged });
    segment.moved = true;
  }

  /**
   * The fleet stayed full past max_wait_ms for this segment: it and the rest of its turn after
   * it are not spoken (a turn missing a sentence is broken anyway, and the fleet is saturated); the
   * client hears of it once, when the turn ends.
   */
  private giveUp(segment: Segment): void {
    if (segment.state === 'failed' || segment.state === 'done') return;
    segment.controller.abort();
    segment.state = 'failed';
    segment.errorCode = 'fleet_saturated';
    this.heldBytes -= segment.undeliveredBytes();
    segment.discardUndelivered();
    this.options.metrics.segmentsGivenUp.inc({ pool: this.options.pool, reason: 'max_wait' });
    const unspoken = this.unspoken.get(segment.turn);
    if (unspoken) {
      unspoken.push(segment.index);
      return;
    }
    this.unspoken.set(segment.turn, [segment.index]);
    // What comes after it in the turn goes too; what comes before it is spoken.
    for (const item of this.queue) if (item instanceof Segment && item.turn === segment.turn && item.index > segment.index) this.giveUp(item);
  }

  private nextTurn(): void {
    this.turn++;
    this.turnSegments = 0;
  }

  /** Aborts every queued segment's synthesis (cancel, close). */
  private abortQueued(): void {
    for (const item of this.queue) if (item instanceof Segment) item.controller.abort();
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
          if (head.kind === 'mark') {
            this.pendingMarks--;
            sink.mark(head.name);
          } else {
            this.queuedTurns--;
            this.reportUnspoken(head.turn);
            sink.turnEnd();
          }
          this.queue.shift();
          continue;
        }
        // From when it became the head: the time before that is the previous segment playing.
        if (head.ttfaFrom === 0) head.ttfaFrom = performance.now();
        this.emitMoves(head);
        while (head.pending) {
          if (sink.bufferedAmount() > limit) {
            if (!this.heldBack) this.options.metrics.clientBackpressure.inc();
            this.heldBack = true;
            return;
          }
          if (!head.announced) {
            // Its provider differs from the one heard last although it did not move itself (the
            // one before it spilled or moved, or the pin moved between them): the client hears
            // of every change of provider all the same.
            if (!head.moved && head.provider !== this.lastProvider) {
              this.recordMove(head, this.lastProvider, head.provider, 'pin_change', false);
              this.emitMoves(head);
            }
            head.announced = true;
            this.lastProvider = head.provider;
            sink.segment(head.index, head.text, head.provider);
            this.options.metrics.ttfa.observe((performance.now() - head.ttfaFrom) / 1000);
          }
          const chunk = head.take()!;
          this.heldBytes -= audioBytes(chunk);
          const emitted = this.output.emittedMs;
          this.output.write(chunk);
          // The caller hears it in real time, from now or from the end of what it has not heard yet.
          this.playsUntil = Math.max(this.playsUntil, performance.now()) + (this.output.emittedMs - emitted);
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
          // fleet_saturated is reported once for the whole turn, at its end (reportUnspoken).
          if (head.errorCode === 'synthesis_failed') sink.error('synthesis_failed', `segment ${head.index} could not be synthesized: ${head.error ?? 'unknown error'}`, [head.index]);
          this.queue.shift();
          this.startSynthesis();
          continue;
        }
        return; // head still synthesizing: its next event (apply) pumps again
      }
      if (this.idle) this.notifyIdle();
    } finally {
      this.pumping = false;
    }
  };

  /** The turn's given-up segments, in one fleet_saturated error (before its turn_end). */
  private reportUnspoken(turn: number): void {
    const segments = this.unspoken.get(turn);
    if (!segments) return;
    this.unspoken.delete(turn);
    segments.sort((a, b) => a - b);
    const list = segments.join(', ');
    this.options.sink.error('fleet_saturated', `segment${segments.length > 1 ? 's' : ''} ${list} not spoken: every provider stayed full for session.max_wait_ms (${this.options.config.max_wait_ms} ms)`, segments);
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** Bytes of a chunk as it is held (16-bit samples, or the encoded bytes). */
function audioBytes(audio: BackendAudio): number {
  return 'samples' in audio ? audio.samples.length * 2 : audio.bytes.length;
}
