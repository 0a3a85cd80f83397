/**
 * Heap headroom for the gateway process (`server.heap_growing_percent`).
 *
 * The gateway's garbage is short-lived per-chunk objects, over a live heap of ~30 MB at 1,000
 * calls. V8's own heuristic sets the old generation's limit only ~24 MB above that: less than
 * the young generation's capacity, so V8 keeps incremental marking running and collects the
 * young objects with full mark-compacts (~4 a second, median pause ~8 ms, max ~30 ms) instead
 * of cheap scavenges. A fixed growing factor leaves room for the young generation.
 * bench/RESULTS.md, "Heap headroom", has the runs (bench/calls-results/incremental-marking-,
 * gc-semispace-ab- and heap-growing-ab-2026-11-22.txt, calls-2026-11-22T17-35-12.json).
 */
import { setFlagsFromString } from 'node:v8';

/** The V8 flag behind the setting; V8 reads it each time it recomputes the heap limits. */
export const HEAP_GROWING_FLAG = '--heap-growing-percent';

/**
 * Fixes how far the old generation may grow past the live heap before a major GC, as a
 * percentage (300 = 4× the live size). 0 leaves V8's own heuristic. Process-wide: call it
 * once, from the process entry. Returns the flag it set, or null.
 */
export function applyHeapGrowth(percent: number): string | null {
  if (percent <= 0) return null;
  const flag = `${HEAP_GROWING_FLAG}=${Math.round(percent)}`;
  setFlagsFromString(flag);
  return flag;
}
