import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RunningRedis } from '../../test/helpers/redis.ts';
import { silentLogger } from '../log.ts';
import { pinStoreConformance } from '../routing/pins.common.case.ts';
import { ClusterRedis } from './redis.ts';
import { RedisPinStore } from './redis-pins.ts';

let redis: RunningRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.close();
});

/** A replica's connection and store; up before it is returned. */
async function replica(ttlMs: number): Promise<{ conn: ClusterRedis; store: RedisPinStore }> {
  // A generous bound: this is about sharing, not speed, on a loaded machine.
  const conn = new ClusterRedis({ url: redis.url, logger: silentLogger, commandTimeoutMs: 2000, probeMs: 100 });
  const up = once(conn, 'up');
  conn.start();
  await up;
  const store = new RedisPinStore({ redis: conn, ttlMs, logger: silentLogger });
  await store.start();
  return { conn, store };
}

pinStoreConformance('RedisPinStore (two replicas)', {
  async make(ttlMs) {
    const one = await replica(ttlMs);
    await one.conn.command((c) => c.flushAll());
    const two = await replica(ttlMs);
    return {
      a: one.store,
      b: two.store,
      // A round trip on each connection: the write has been applied and its broadcast delivered.
      settle: async () => {
        await one.conn.command((c) => c.ping());
        await two.conn.command((c) => c.ping());
        await new Promise((r) => setTimeout(r, 30));
      },
      close: async () => {
        for (const r of [one, two]) {
          await r.store.close();
          await r.conn.close();
        }
      },
    };
  },
});

describe('RedisPinStore', () => {
  it('a replica that starts later, or whose Redis comes back, loads the pins Redis holds (with their remaining TTL)', async () => {
    const first = await replica(60_000);
    await first.conn.command((c) => c.flushAll());
    for (let i = 0; i < 1200; i++) first.store.remember('kokoro', `call-${i}`, `gpu-${i % 7}`);
    await first.conn.command((c) => c.ping());
    const late = await replica(60_000);
    try {
      expect(late.store.size).toBe(1200);
      expect(late.store.recall('kokoro', 'call-1000')).toBe(`gpu-${1000 % 7}`);
      const ttl = await late.conn.command((c) => c.pTTL('voicegate:pin:kokoro\u0000call-5'));
      expect(ttl).toBeGreaterThan(50_000);
    } finally {
      for (const r of [first, late]) {
        await r.store.close();
        await r.conn.close();
      }
    }
  });

  it('Redis down: remember keeps working locally and never throws', async () => {
    const r = await replica(60_000);
    try {
      const down = once(r.conn, 'down');
      await redis.stop();
      await down;
      r.store.remember('kokoro', 'offline', 'gpu-1');
      expect(r.store.recall('kokoro', 'offline')).toBe('gpu-1');
    } finally {
      await redis.start();
      await r.store.close();
      await r.conn.close();
    }
  });
});
