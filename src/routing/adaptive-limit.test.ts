import { describe, expect, it } from 'vitest';
import { AdaptiveLimit, BASELINE_INTERVAL_MS, OVERFLOW_MEMORY_MS, WINDOW_MS } from './adaptive-limit.ts';

/**
 * A GPU whose first audio is 150 ms up to `comfortable` streams and 35 % slower per stream
 * beyond (the simulator's latency model), kept as busy as the limit allows.
 */
function drive(limit: AdaptiveLimit, seconds: number, comfortable: () => number, start = 0, overflowAbove = Infinity): number {
  let now = start;
  for (let w = 0; w < seconds; w++) {
    for (let k = 0; k < 5; k++) {
      now += WINDOW_MS / 5;
      const streams = limit.limit;
      limit.inFlight(streams);
      if (streams > overflowAbove) {
        limit.overflow(now);
        continue;
      }
      const excess = Math.max(0, streams - comfortable());
      limit.firstAudio(150 * (1 + 0.35 * excess), streams, now);
    }
  }
  return now;
}

describe('AdaptiveLimit', () => {
  it('measures the baseline, then grows while first audio stays near it and rests within one stream of the comfortable level', () => {
    const changes: number[] = [];
    const limit = new AdaptiveLimit({ min: 1, max: 8, targetFirstAudioMs: 225, onChange: (l) => changes.push(l) });
    expect(limit.limit).toBe(1);
    const now = drive(limit, 10, () => 3);
    expect(limit.baseline).toBe(150);
    expect(Math.abs(limit.limit - 3)).toBeLessThanOrEqual(1);
    // Smooth: it climbs one stream at a time, then rests: no change in the next 20 windows.
    expect(changes.slice(1).every((l, i) => Math.abs(l - changes[i]!) <= 1)).toBe(true);
    const settled = changes.length;
    drive(limit, 20, () => 3, now);
    expect(changes.length).toBe(settled);
  });

  it('follows a GPU whose capacity halves, within 30 s', () => {
    const limit = new AdaptiveLimit({ min: 1, max: 8, targetFirstAudioMs: 225 });
    let comfortable = 4;
    let now = drive(limit, 20, () => comfortable);
    expect(limit.limit).toBeGreaterThanOrEqual(4);
    comfortable = 2;
    now = drive(limit, 30, () => comfortable, now);
    expect(Math.abs(limit.limit - 2)).toBeLessThanOrEqual(1);
    expect(now).toBeGreaterThan(0);
  });

  it('a server that answers 503 past 2 streams: cut fast, and no growth past the refused limit for a while', () => {
    const limit = new AdaptiveLimit({ min: 1, max: 4, targetFirstAudioMs: 0 });
    const now = drive(limit, 25, () => 8, 0, 2);
    expect(limit.limit).toBe(2);
    // Still 2 once the overflow memory is over and it tried 3 again (and was refused again).
    drive(limit, Math.ceil(OVERFLOW_MEMORY_MS / WINDOW_MS) + 5, () => 8, now, 2);
    expect(limit.limit).toBeLessThanOrEqual(2);
  });

  it('measures the baseline again every BASELINE_INTERVAL_MS (one window at the minimum), then returns to its limit', () => {
    const seen: string[] = [];
    const limit = new AdaptiveLimit({ min: 1, max: 8, targetFirstAudioMs: 0, onChange: (l, reason) => seen.push(`${reason}:${l}`) });
    drive(limit, Math.ceil(BASELINE_INTERVAL_MS / WINDOW_MS) + 5, () => 3);
    expect(seen.filter((s) => s.startsWith('baseline'))).toHaveLength(2);
    expect(Math.abs(limit.limit - 3)).toBeLessThanOrEqual(1);
  });
});
