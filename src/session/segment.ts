/**
 * One segment (usually a sentence) of a call: its text, where it is synthesized, and the
 * audio produced for it that has not been delivered yet. Audio of a segment that is not at
 * the head of the session's queue waits here (lookahead), so delivery stays in order.
 * Written only by its Session (the synthesizer reports events; the Session applies them).
 */
import type { BackendAudio } from '../audio/format.ts';
import type { WaitClass } from './wait-queue.ts';

export type SegmentState = 'queued' | 'synthesizing' | 'done' | 'failed';

/** A move of the segment to another provider, waiting for delivery order to reach the client. */
export interface Move {
  readonly from: string;
  readonly to: string;
  readonly reason: string;
  readonly replay: boolean;
  /** The voice heard changes with it (to or from a fallback without the caller's voice). */
  readonly voiceChanged: boolean;
}

export class Segment {
  state: SegmentState = 'queued';
  /** Provider producing the audio now: instance id or `cartesia`. */
  provider = '';
  /** Audio produced and not yet delivered. */
  readonly chunks: BackendAudio[] = [];
  /** Index of the next chunk to deliver. */
  readPos = 0;
  /**
   * The client has seen this segment's `segment` event and its first audio (they go out
   * together): a failure now means replay or skip.
   */
  announced = false;
  /** Set when the segment ended without audio: why, and the client-facing code. */
  error: string | undefined;
  errorCode: 'fleet_saturated' | 'synthesis_failed' | undefined;
  /** Moves to report to the client, in delivery order. */
  readonly moves: Move[] = [];
  /** It moved at least once (its moves may already have been sent). */
  moved = false;
  /** The client was told this segment waits for capacity (once per segment). */
  waitNoticed = false;
  /** Aborts this segment's synthesis (cancel, close, skip, a saturated turn). */
  readonly controller = new AbortController();
  /** When the segment became the head of the queue: time to first audio counts from here. */
  ttfaFrom = 0;

  constructor(
    readonly index: number,
    readonly text: string,
    /** The turn it belongs to (a counter of the session's turns). */
    readonly turn: number,
    /** Its place in the pool's wait queue, should it wait. */
    readonly klass: WaitClass,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get pending(): boolean {
    return this.readPos < this.chunks.length;
  }

  push(audio: BackendAudio): void {
    this.chunks.push(audio);
  }

  /** Bytes of audio held and not delivered yet (16-bit samples, or encoded bytes). */
  undeliveredBytes(): number {
    let n = 0;
    for (let i = this.readPos; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      n += 'samples' in c ? c.samples.length * 2 : c.bytes.length;
    }
    return n;
  }

  /** Drops audio not delivered yet (a retry starts the segment over). */
  discardUndelivered(): void {
    this.chunks.length = 0;
    this.readPos = 0;
  }

  /** Takes the next undelivered chunk, releasing the reference for GC. */
  take(): BackendAudio | undefined {
    if (this.readPos >= this.chunks.length) return undefined;
    const chunk = this.chunks[this.readPos]!;
    this.chunks[this.readPos++] = undefined as unknown as BackendAudio;
    if (this.readPos === this.chunks.length) {
      this.chunks.length = 0;
      this.readPos = 0;
    }
    return chunk;
  }
}
