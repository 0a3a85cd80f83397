/**
 * Is the gateway itself overloaded? When its own event loop lags, a timeout on a backend says
 * more about us than about the GPU: the audio may have been sitting unread in our socket.
 * Passive health then must not eject instances for timeouts (an overloaded gateway would
 * otherwise eject a healthy fleet one instance after another and lose segments).
 *
 * Lag is measured as timer drift: how late a periodic timer fires, known as soon as the loop
 * is free again. perf_hooks' monitorEventLoopDelay sees a 300 ms block too (its max read
 * 308–314 ms in three runs on Node 20 here), but as a histogram that would need a reset per
 * window; loop-lag.test.ts checks that the probe sees a 300 ms synchronous busy loop.
 */

export interface LoopLagOptions {
  /** Period of the probe timer. Default 100 ms. */
  intervalMs?: number;
  /** A probe this late marks the loop as lagging. Default 100 ms. */
  lagMs?: number;
  /**
   * How long `overloaded` stays true after a lagging probe. A request delayed by lag can time
   * out up to first_audio_ms later, so this outlasts the default first_audio_ms.
   * Default 2000 ms.
   */
  holdMs?: number;
  /** Called with the drift of each probe later than lagMs (diagnostics). Default none. */
  onLag?: (lagMs: number) => void;
}

export class LoopLagMonitor {
  private readonly timer: NodeJS.Timeout;
  private readonly holdMs: number;
  private laggedAt = Number.NEGATIVE_INFINITY;

  constructor(options: LoopLagOptions = {}) {
    const intervalMs = options.intervalMs ?? 100;
    const lagMs = options.lagMs ?? 100;
    this.holdMs = options.holdMs ?? 2000;
    const onLag = options.onLag;
    let expected = performance.now() + intervalMs;
    this.timer = setInterval(() => {
      const now = performance.now();
      const lag = now - expected;
      if (lag > lagMs) {
        this.laggedAt = now;
        onLag?.(lag);
      }
      expected = now + intervalMs;
    }, intervalMs);
    this.timer.unref();
  }

  /** True while the gateway's own event loop lags, and for holdMs after. */
  get overloaded(): boolean {
    return performance.now() - this.laggedAt < this.holdMs;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
