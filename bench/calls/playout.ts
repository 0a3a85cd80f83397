/**
 * The caller's playout clock for one turn: audio plays in real time from its first frame; a
 * stall is a frame that arrives after everything received before it has already played
 * (the jitter buffer ran dry mid-turn and the caller heard silence that is not in the audio).
 */
export class PlayoutClock {
  /** performance.now() at which the buffered audio runs out; 0 = the turn has no audio yet. */
  private playEnd = 0;
  /** Stalls longer than `thresholdMs`. */
  stalls = 0;
  /** Summed silence of those stalls, ms. */
  stallMs = 0;
  /** Longest single stall, ms. */
  maxStallMs = 0;
  /** The most recent counted stall, ms. */
  lastStallMs = 0;

  /** @param thresholdMs a gap shorter than this is not counted (one 20 ms frame by default). */
  constructor(private readonly thresholdMs = 20) {}

  /** A frame holding `ms` of audio arrived at `now`. */
  frame(now: number, ms: number): void {
    if (this.playEnd === 0) {
      this.playEnd = now + ms;
      return;
    }
    const gap = now - this.playEnd;
    if (gap > 0) {
      if (gap >= this.thresholdMs) {
        this.stalls++;
        this.stallMs += gap;
        this.lastStallMs = gap;
        if (gap > this.maxStallMs) this.maxStallMs = gap;
      }
      this.playEnd = now + ms;
    } else this.playEnd += ms;
  }

  /** When the audio received so far has finished playing (0 before the first frame). */
  get endsAt(): number {
    return this.playEnd;
  }

  reset(): void {
    this.playEnd = 0;
  }
}
