/**
 * The IPC a benchmark child answers: `gc` (collect garbage, reply with memory figures),
 * `gc-counts` (the collections V8 made since the last ask) and `exit` (close cleanly, so
 * `--cpu-prof` can write its profile).
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';

/** The child's memory after a full GC (its RSS is read from /proc by the parent). */
export interface ChildMemory {
  heapUsed: number;
}

/** Garbage collections between two `gc-counts` asks: pauses of the main thread, ms. */
export interface ChildGcCounts {
  /** Mark-compacts (full collections). */
  major: number;
  majorMs: number;
  majorMaxMs: number;
  /** Scavenges (young generation). */
  minor: number;
  minorMs: number;
  minorMaxMs: number;
}

const zeroCounts = (): ChildGcCounts => ({ major: 0, majorMs: 0, majorMaxMs: 0, minor: 0, minorMs: 0, minorMaxMs: 0 });

export function serveChildIpc(close: () => Promise<void>): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  let counts = zeroCounts();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = ((entry as { detail?: { kind?: number } }).detail)?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        counts.major++;
        counts.majorMs += entry.duration;
        counts.majorMaxMs = Math.max(counts.majorMaxMs, entry.duration);
      } else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        counts.minor++;
        counts.minorMs += entry.duration;
        counts.minorMaxMs = Math.max(counts.minorMaxMs, entry.duration);
      }
    }
  }).observe({ entryTypes: ['gc'] });
  let closing = false;
  const exit = (): void => {
    if (closing) return;
    closing = true;
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('message', (msg: { type?: string }) => {
    if (msg?.type === 'gc') {
      gc?.();
      const reply: ChildMemory = { heapUsed: process.memoryUsage().heapUsed };
      process.send!({ type: 'gc-done', value: reply });
    } else if (msg?.type === 'gc-counts') {
      process.send!({ type: 'gc-counts-done', value: counts });
      counts = zeroCounts();
    } else if (msg?.type === 'exit') exit();
  });
  // The parent died or closed the channel: do not linger.
  process.on('disconnect', exit);
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
}
