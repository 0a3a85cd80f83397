import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClusterRedis } from '../cluster/redis.ts';
import { silentLogger } from '../log.ts';
import { startRedis, type RunningRedis } from '../../test/helpers/redis.ts';
import { AdaptiveLimit } from './adaptive-limit.ts';
import { RedisLimitStore } from './limit-store.ts';

/** One replica's view: its own Redis client (as a second process would have). Generous bound: a loaded machine. */
async function replica(url: string): Promise<{ redis: ClusterRedis; store: RedisLimitStore }> {
  const redis = new ClusterRedis({ url, logger: silentLogger, commandTimeoutMs: 2000, probeMs: 100 });
  const up = once(redis, 'up');
  redis.start();
  await up;
  return { redis, store: new RedisLimitStore(redis) };
}

/** Drives one window of first audio ending at `t` (the limit decides on the first sample after a window). */
function window(limit: AdaptiveLimit, t: number, ms: number, inFlight: number): void {
  limit.inFlight(inFlight);
  limit.firstAudio(ms, inFlight, t);
}

describe('RedisLimitStore: one adaptive limit per instance across replicas', () => {
  let server: RunningRedis;
  let a: Awaited<ReturnType<typeof replica>>;
  let b: Awaited<ReturnType<typeof replica>>;
  beforeAll(async () => {
    server = await startRedis();
    a = await replica(server.url);
    b = await replica(server.url);
  });
  afterAll(async () => {
    await a?.redis.close();
    await b?.redis.close();
    await server?.close();
  });

  it('applies steps atomically: two replicas growing from the same value grow it once; decreases add up; clamped', async () => {
    const key = 'p/step';
    expect(await a.store.apply(key, { step: 'hold', from: 3, min: 1, max: 8 })).toBe(3); // seeded
    const grown = await Promise.all([a.store.apply(key, { step: 'grow', from: 3, min: 1, max: 8 }), b.store.apply(key, { step: 'grow', from: 3, min: 1, max: 8 })]);
    expect(grown).toEqual([4, 4]);
    await Promise.all([a.store.apply(key, { step: 'shrink', from: 4, min: 1, max: 8 }), b.store.apply(key, { step: 'shrink', from: 4, min: 1, max: 8 })]);
    expect(await b.store.apply(key, { step: 'hold', from: 9, min: 1, max: 8 })).toBe(2);
    expect(await a.store.apply(key, { step: 'cut', from: 2, min: 2, max: 8 })).toBe(2); // never below min
    expect(await a.store.apply(key, { step: 'hold', from: 2, min: 1, max: 1 })).toBe(1); // a 429's ceiling lowers it
    expect(await a.redis.command((c) => c.get('voicegate:limit:p/step'))).toBe('1');
  });

  it('two AdaptiveLimits of one instance, fed different first audio, end on ONE limit (the one in Redis)', async () => {
    const options = { min: 1, max: 8, targetFirstAudioMs: 0, storeKey: 'kokoro/gpu-1' };
    const ra = new AdaptiveLimit({ ...options, store: a.store });
    const rb = new AdaptiveLimit({ ...options, store: b.store });
    // Replica A: baseline 100 ms at one stream, then three windows of headroom: 1 → 4.
    window(ra, 0, 100, 1);
    window(ra, 1000, 100, 1);
    for (let w = 2; w <= 4; w++) {
      window(ra, w * 1000, 100, ra.limit);
      const expected = w;
      await vi.waitFor(() => expect(ra.limit).toBe(expected));
    }
    // Replica B starts later: after its own baseline it adopts the shared 4, not its local 1.
    window(rb, 10_000, 100, 1);
    window(rb, 11_000, 100, 1);
    await vi.waitFor(() => expect(rb.limit).toBe(4));
    // B sees the instance slow (first audio over 1.5 × baseline): the shared limit drops to 3, and A adopts it on its next window.
    window(rb, 12_000, 400, 4);
    await vi.waitFor(() => expect(rb.limit).toBe(3));
    window(ra, 12_500, 140, 2); // within the target, not near enough the baseline to grow: hold
    await vi.waitFor(() => expect(ra.limit).toBe(3));
    expect(await a.redis.command((c) => c.get('voicegate:limit:kokoro/gpu-1'))).toBe('3');
  });

  it('Redis down: each replica goes on with its local value (a step still applies), and never throws', async () => {
    const solo = await replica(server.url);
    const limit = new AdaptiveLimit({ min: 1, max: 8, targetFirstAudioMs: 0, storeKey: 'kokoro/gpu-2', store: solo.store });
    try {
      window(limit, 0, 100, 1);
      window(limit, 1000, 100, 1);
      window(limit, 2000, 100, 1);
      await vi.waitFor(() => expect(limit.limit).toBe(2));
      const down = once(solo.redis, 'down');
      await server.stop();
      await down;
      window(limit, 3000, 100, 2);
      expect(limit.limit).toBe(3);
      expect(await solo.store.apply('kokoro/gpu-2', { step: 'grow', from: 3, min: 1, max: 8 })).toBeNull();
      await new Promise((r) => setTimeout(r, 50));
      expect(limit.limit).toBe(3);
    } finally {
      await server.start();
      await solo.redis.close();
    }
  });
});
