/**
 * Active health checks: one probe loop per instance calling the Backend's own check() (the
 * adapter knows its protocol and health path) on a fixed period, with a timeout. Counting
 * passes and fails into up/down (rise/fall) is instance-health.ts's job; this only runs probes.
 */
import { BackendError } from '../backends/backend.ts';

export interface ActiveCheckOptions {
  /** Probe period (pool.health.interval_ms; config default 1000). */
  readonly intervalMs: number;
  /** A probe that has not resolved after this long fails (pool.health.timeout_ms; default 800). */
  readonly timeoutMs: number;
  /** The probe: resolves when healthy, throws otherwise. */
  readonly check: (signal: AbortSignal) => Promise<void>;
  /** Called once per finished probe (never after stop()). */
  readonly onResult: (ok: boolean, error: unknown) => void;
}

export class ActiveHealthCheck {
  private timer: ReturnType<typeof setInterval> | null = null;
  private inFlight: Promise<boolean> | null = null;
  private controller: AbortController | null = null;
  private stopped = false;

  constructor(private readonly options: ActiveCheckOptions) {}

  get running(): boolean {
    return this.timer !== null;
  }

  /** Probes now, then every intervalMs. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.probe(), this.options.intervalMs);
    this.timer.unref?.();
    void this.probe();
  }

  /**
   * Runs one probe now (or joins the one in flight) and resolves whether it passed.
   * Probes never overlap: a period tick during a slow probe is skipped.
   */
  probe(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    this.inFlight ??= this.runProbe().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async runProbe(): Promise<boolean> {
    const controller = new AbortController();
    this.controller = controller;
    const { timeoutMs } = this.options;
    const timer = setTimeout(() => controller.abort(new BackendError('timeout', `health check timed out after ${timeoutMs} ms`)), timeoutMs);
    let ok = true;
    let error: unknown = null;
    try {
      // Race the signal too: a backend that ignores its signal must not stall the loop.
      await Promise.race([this.options.check(controller.signal), rejectOnAbort(controller.signal)]);
    } catch (err) {
      ok = false;
      error = controller.signal.aborted ? controller.signal.reason : err;
    } finally {
      clearTimeout(timer);
      controller.abort(); // releases the race's listener and whatever the check left open
      this.controller = null;
    }
    if (this.stopped) return false;
    this.options.onResult(ok, error);
    return ok;
  }

  /** Stops the loop and aborts a probe in flight; its result is dropped. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.controller?.abort(new BackendError('aborted', 'health checks stopped'));
  }
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
