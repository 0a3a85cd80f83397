/**
 * Stream slot cost (issue #19 item 1): one run, side by side.
 *   1. Local slots: Pool.tryAcquire + release on the Pool at BEFORE_POOL (default
 *      /work/main's, which has had LocalSlots since #19 merged: point it at a pre-#19 checkout,
 *      where pool.ts counted slots itself, for the original comparison) and on this tree's Pool
 *      (LocalSlots behind the SlotStore interface); ns per acquire+release pair.
 *   2. Redis slots: RedisSlots against a real redis-server (started here, by pid): acquire
 *      latency µs p50/p99 (one Lua round trip over 3 claims), acquire+release pairs per second
 *      with 16 concurrent holders on one Redis, and Redis commands per segment (acquire +
 *      release + renew), read from INFO commandstats.
 * Run: npx tsx bench/cluster-slots.ts
 */
import { once } from 'node:events';
import { createClient } from 'redis';
import { ClusterRedis } from '../src/cluster/redis.ts';
import { RedisSlots } from '../src/cluster/leases.ts';
import { silentLogger } from '../src/log.ts';
import { Pool } from '../src/routing/pool.ts';
import { FakeBackend, testPoolConfig } from '../test/helpers/routing.ts';
import { startRedis } from '../test/helpers/redis.ts';

const BEFORE = process.env.BEFORE_POOL ?? '/work/main/src/routing/pool.ts';

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

// biome-ignore lint: two Pool classes of different trees share this shape
type AnyPool = { instances: readonly unknown[]; tryAcquire(i: never): { release(): void } | null };

function localPairNs(pool: AnyPool, rounds: number): number {
  const inst = pool.instances[0] as never;
  for (let i = 0; i < 100_000; i++) pool.tryAcquire(inst)!.release(); // JIT warm-up
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) pool.tryAcquire(inst)!.release();
  return Number(process.hrtime.bigint() - started) / rounds;
}

async function main(): Promise<void> {
  // ---- 1. local, before/after ----
  const { Pool: BeforePool } = (await import(BEFORE)) as { Pool: typeof Pool };
  const make = (P: typeof Pool): AnyPool => new P({ config: testPoolConfig({ instances: 3 }), createBackend: () => new FakeBackend() }) as unknown as AnyPool;
  const ROUNDS = 2_000_000;
  const rows: string[] = [];
  for (let run = 0; run < 3; run++) {
    // Interleaved, so machine load hits both alike.
    const before = localPairNs(make(BeforePool), ROUNDS);
    const after = localPairNs(make(Pool), ROUNDS);
    rows.push(`run ${run + 1}: before (pool.ts counts) ${before.toFixed(1)} ns/pair, after (LocalSlots via SlotStore) ${after.toFixed(1)} ns/pair`);
  }
  console.log('local tryAcquire+release, 3 instances:');
  for (const row of rows) console.log(`  ${row}`);

  // ---- 2. Redis ----
  const redis = await startRedis();
  try {
    const conns: ClusterRedis[] = [];
    const connect = async (): Promise<ClusterRedis> => {
      const c = new ClusterRedis({ url: redis.url, logger: silentLogger, commandTimeoutMs: 1000 });
      const up = once(c, 'up');
      c.start();
      await up;
      conns.push(c);
      return c;
    };
    const slots = new RedisSlots({ redis: await connect(), leaseTtlMs: 3000 });
    const claims = [
      { instanceId: 'bench-a', limit: 1_000_000 },
      { instanceId: 'bench-b', limit: 4 },
      { instanceId: 'bench-c', limit: 4 },
    ];
    const admin = createClient({ url: redis.url });
    await admin.connect();
    const commands = async (): Promise<number> => {
      // Round trips = scripts called by clients (commands inside a script are not round trips).
      const info = await admin.info('commandstats');
      let calls = 0;
      for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(m[1]);
      return calls;
    };
    for (let i = 0; i < 2000; i++) slots.release((await slots.acquire(claims))!);
    // Latency, sequential.
    const N = 5000;
    const t = new Float64Array(N);
    const c0 = await commands();
    const wall0 = performance.now();
    for (let i = 0; i < N; i++) {
      const s = performance.now();
      const lease = await slots.acquire(claims);
      t[i] = (performance.now() - s) * 1000;
      slots.release(lease!);
    }
    const wallMs = performance.now() - wall0;
    await new Promise((r) => setTimeout(r, 100));
    // INFO itself is one command per read; renews run once a second per process.
    const perSegment = ((await commands()) - c0) / N;
    t.sort();
    console.log(`redis acquire (1 Lua call over 3 claims), sequential, ${N} samples: p50 ${pct(t, 0.5).toFixed(0)} µs, p99 ${pct(t, 0.99).toFixed(0)} µs; ${(N / (wallMs / 1000)).toFixed(0)} pairs/s from one holder`);
    console.log(`redis round trips per segment (scripts run: acquire + release; renew is 1/s per process, for all its leases): ${perSegment.toFixed(2)} over ${(wallMs / 1000).toFixed(1)} s`);
    // Throughput: 16 holders (separate connections), each with 8 pairs in flight, 3 s.
    const holders = await Promise.all(Array.from({ length: 16 }, async () => new RedisSlots({ redis: await connect(), leaseTtlMs: 3000 })));
    let pairs = 0;
    const until = performance.now() + 3000;
    await Promise.all(
      holders.flatMap((h) =>
        Array.from({ length: 8 }, async () => {
          while (performance.now() < until) {
            const lease = await h.acquire(claims);
            if (lease) h.release(lease);
            pairs++;
          }
        }),
      ),
    );
    console.log(`one redis-server, 16 holders x 8 in flight, 3 s: ${(pairs / 3).toFixed(0)} acquire+release pairs/s`);
    await Promise.all([slots, ...holders].map((s) => s.close()));
    await admin.close();
    await Promise.all(conns.map((c) => c.close()));
  } finally {
    await redis.close();
  }
}

await main();
