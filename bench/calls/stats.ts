/** Counters and samples one benchmark run collects from all of its calls. */

export class RunStats {
  /**
   * performance.now() from which turns are measured: latency and stall figures come only from
   * turns that start at or after it (the ramp before it is warm-up, at a load still growing).
   * Completeness (segments, problems, cancels) is checked over every turn. Default 0: all.
   */
  measureFrom = 0;
  /** Time to first audio of each measured turn, ms (definition: docs/benchmarks.md). */
  readonly ttfa: number[] = [];
  /** Measured turns started. */
  turnsStarted = 0;
  /** Turns started before measureFrom (checked for completeness, not timed). */
  warmupTurns = 0;
  /** Measured turns that ended with every segment delivered and their turn end. */
  turnsCompleted = 0;
  /** Turns the caller interrupted (cancel sent). */
  cancelsSent = 0;
  /** Cancels the other side confirmed with nothing of the turn after the confirmation. */
  cancelsConfirmed = 0;
  /** Segments delivered whole (segment … segment_end with the audio they announce). */
  segments = 0;
  /** Audio delivered in measured turns, ms. */
  audioMs = 0;
  /** Playout gaps in measured turns. */
  stalls = 0;
  stallMs = 0;
  maxStallMs = 0;
  /** Measured turns with at least one stall. */
  stalledTurns = 0;
  failovers = 0;
  /** Breaches of the contract (lost, duplicated or reordered segments, stray audio, errors). */
  problems = 0;
  /** The first few problems, verbatim. */
  readonly problemSamples: string[] = [];
  /** Calls that could not connect or start (a problem). */
  callsFailed = 0;
  /** Calls the gateway refused cleanly (503 or a fatal at_capacity/overloaded at start): not a problem. */
  callsRefused = 0;
  /** Turns that did not finish within the turn timeout. */
  turnsTimedOut = 0;

  problem(callId: string, message: string): void {
    this.problems++;
    if (this.problemSamples.length < 20) this.problemSamples.push(`${callId}: ${message}`);
  }
}

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.length ? sorted.reduce((s, v) => s + v, 0) / sorted.length : Number.NaN;
  return { n: sorted.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN, mean };
}

export const round = (x: number, digits = 1): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
