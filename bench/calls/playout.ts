/**
 * The caller's playout clock for one turn: audio plays in real time from its first frame; a
 * stall is a frame that arrives after everything received before it has already played
 * (the jitter buffer ran dry mid-turn and the caller heard silence that is not in the audio).
 */
export class PlayoutClock {
  /** performance.now() at which the buffered audio runs out; 0 = the turn has no audio yet. */
  private playEnd = 0;

  /** @param thresholdMs a gap shorter than this is not counted (one 20 ms frame by default). */
  constructor(private readonly thresholdMs = 20) {}

  /** A frame holding `ms` of audio arrived at `now`. Returns the stall it ended, ms (0: none counted). */
  frame(now: number, ms: number): number {
    if (this.playEnd === 0) {
      this.playEnd = now + ms;
      return 0;
    }
    const gap = now - this.playEnd;
    if (gap > 0) {
      this.playEnd = now + ms;
      return gap >= this.thresholdMs ? gap : 0;
    }
    this.playEnd += ms;
    return 0;
  }

  /** When the audio received so far has finished playing (0 before the first frame). */
  get endsAt(): number {
    return this.playEnd;
  }

  reset(): void {
    this.playEnd = 0;
  }
}
