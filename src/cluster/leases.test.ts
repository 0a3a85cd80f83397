import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../log.ts';
import { runSlotStoreConformance } from '../routing/slots.common.case.ts';
import type { SlotLease } from '../routing/slots.ts';
import { startRedis, type RunningRedis } from '../../test/helpers/redis.ts';
import { ClusterRedis } from './redis.ts';
import { RedisSlots } from './leases.ts';

// A generous command bound: these tests are about sharing and expiry, not speed, on a loaded machine.
const TIMEOUT_MS = 2000;
let redis: RunningRedis;
const conns: ClusterRedis[] = [];

async function connect(): Promise<ClusterRedis> {
  const conn = new ClusterRedis({ url: redis.url, logger: silentLogger, commandTimeoutMs: TIMEOUT_MS, probeMs: 50 });
  conns.push(conn);
  const up = once(conn, 'up');
  conn.start();
  await up;
  return conn;
}

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(conns.splice(0).map((c) => c.close()));
  await redis?.close();
});

// Each holder gets its own connection, as separate replicas would.
runSlotStoreConformance('RedisSlots (real redis-server)', {
  shared: true,
  create: async (holders) => Promise.all(Array.from({ length: holders }, async () => new RedisSlots({ redis: await connect(), leaseTtlMs: 3000 }))),
});

describe('RedisSlots: leases', () => {
  it('a holder that stops renewing (died) loses its leases after lease_ttl_ms, and another replica takes them', async () => {
    const ttl = 600;
    const dead = new RedisSlots({ redis: await connect(), leaseTtlMs: ttl, renewMs: 100 });
    const alive = new RedisSlots({ redis: await connect(), leaseTtlMs: ttl, renewMs: 100 });
    const claims = [{ instanceId: `ttl-${process.pid}`, limit: 2 }];
    expect(await dead.acquire(claims)).not.toBeNull();
    expect(await dead.acquire(claims)).not.toBeNull();
    expect(await alive.acquire(claims)).toBeNull();
    // Renewals keep them past the TTL while the holder lives.
    await new Promise((r) => setTimeout(r, ttl * 2));
    expect(await alive.acquire(claims)).toBeNull();
    // "kill -9": its connection and timers stop without a release.
    (dead as unknown as { timers: NodeJS.Timeout[] }).timers.forEach(clearInterval);
    const killed = Date.now();
    let got: SlotLease | null = null;
    await until(async () => (got = await alive.acquire(claims)) !== null, ttl + 1000);
    expect(Date.now() - killed).toBeGreaterThanOrEqual(ttl - 150);
    expect(got!.instanceId).toBe(claims[0]!.instanceId);
    await alive.close();
  });

  it('a release on one replica wakes waiters on another (pub/sub, well before the poll)', async () => {
    const a = new RedisSlots({ redis: await connect(), leaseTtlMs: 3000, pollMs: 60_000 });
    const b = new RedisSlots({ redis: await connect(), leaseTtlMs: 3000, pollMs: 60_000 });
    // Let b's subscription settle.
    await new Promise((r) => setTimeout(r, 200));
    const lease = (await a.acquire([{ instanceId: `wake-${process.pid}`, limit: 1 }]))!;
    let woke = 0;
    b.onFree(() => woke++);
    a.release(lease);
    await until(() => woke > 0, 2000);
    await Promise.all([a.close(), b.close()]);
  });

  it('Redis down: local slots of ceil(limit / live replicas), no call refused outright; leases re-registered when it returns', async () => {
    const conn1 = await connect();
    const conn2 = await connect();
    const one = new RedisSlots({ redis: conn1, leaseTtlMs: 3000, renewMs: 100 });
    const two = new RedisSlots({ redis: conn2, leaseTtlMs: 3000, renewMs: 100 });
    await until(() => one.liveReplicas === 2 && two.liveReplicas === 2, 3000);
    const id = `down-${process.pid}`;
    const claims = [{ instanceId: id, limit: 3 }];
    const before = (await one.acquire(claims))!;
    expect(before).not.toBeNull();

    const down = once(conn1, 'down');
    await redis.stop();
    await down;
    // ceil(3 / 2) = 2 for this process, its own held lease included: one more, then full.
    const local = one.acquire(claims);
    expect(local).not.toBeInstanceOf(Promise);
    expect(local).not.toBeNull();
    expect(one.acquire(claims)).toBeNull();
    expect(one.held(id)).toBe(2);

    const up = once(conn1, 'up');
    await redis.start();
    await up;
    // Both leases of `one` are back in Redis within 2 s: the other replica sees only 1 free.
    await until(async () => {
      const probe = await two.acquire(claims);
      if (!probe) return false;
      const extra = await two.acquire(claims);
      if (extra) {
        two.release(extra);
        two.release(probe);
        return false;
      }
      two.release(probe);
      return true;
    }, 2000);
    await Promise.all([one.close(), two.close()]);
  });
});
