import { describe, expect, it } from 'vitest';
import { LoopLagMonitor } from './loop-lag.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LoopLagMonitor', () => {
  it('is calm on an idle loop, reports a blocked one for holdMs, then recovers', async () => {
    const lags: number[] = [];
    const monitor = new LoopLagMonitor({ intervalMs: 50, lagMs: 100, holdMs: 400, onLag: (ms) => lags.push(ms) });
    try {
      await sleep(250);
      expect(monitor.overloaded).toBe(false);
      expect(lags).toEqual([]);
      const until = performance.now() + 300;
      while (performance.now() < until) {
        // Block the event loop the way a saturated gateway does.
      }
      await sleep(60);
      expect(monitor.overloaded).toBe(true);
      expect(lags.length).toBe(1);
      expect(lags[0]).toBeGreaterThan(200);
      await sleep(600);
      expect(monitor.overloaded).toBe(false);
    } finally {
      monitor.stop();
    }
  });
});
