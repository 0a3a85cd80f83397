/**
 * The per-instance backend metrics every adapter records (DESIGN.md §6): time to first audio,
 * real-time factor, errors by kind. One place, so every adapter counts the same way.
 */
import type { Metrics } from '../metrics.ts';
import type { BackendError } from './backend.ts';

/** Per-instance metric handles, resolved once so the hot path does no label lookups. */
export class InstanceMetrics {
  private readonly ttfb;
  private readonly rtf;
  private readonly labels: { pool: string; instance: string };

  constructor(
    private readonly metrics: Metrics | undefined,
    pool: string,
    instance: string,
  ) {
    this.labels = { pool, instance };
    this.ttfb = metrics?.ttfb.labels(this.labels);
    this.rtf = metrics?.rtf.labels(this.labels);
  }

  /** Request sent → first audio, seconds. */
  firstAudio(seconds: number): void {
    this.ttfb?.observe(seconds);
  }

  /** Synthesis wall time over audio produced (skipped when no audio was produced). */
  finished(wallSeconds: number, audioSeconds: number): void {
    if (audioSeconds > 0) this.rtf?.observe(wallSeconds / audioSeconds);
  }

  /** Counts a failure; cancellations by the caller are not the backend's fault and are not counted. */
  error(err: BackendError): void {
    if (err.code === 'aborted') return;
    this.metrics?.backendErrors.inc({ ...this.labels, kind: err.code });
  }
}
