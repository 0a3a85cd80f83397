/**
 * What `server.workers: 2` shares between its workers (issue #19 items 2 and 4, docs/scaling.md),
 * end to end as `npm start` runs it, against the fleet simulator:
 *   - without Redis, remembered pins live in the primary: a session that reconnects lands on
 *     the same instance whichever worker takes it, also on workers that replaced dead ones;
 *   - with cluster.redis_url (Debian's redis-server), both workers take their stream slots in
 *     Redis: the instances' caps hold across the two workers (counted inside the fake
 *     instances), and one /metrics scrape answers for both.
 * The `ws` engine: node:cluster hands connections to the workers round-robin, so reconnects
 * really do change worker. Children are killed by pid.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { checkCall } from './helpers/call-check.ts';
import { startRedis, type RunningRedis } from './helpers/redis.ts';
import { StreamClient } from './helpers/stream-client.ts';
import { startWorkersGateway, type LogLine, type WorkersGateway } from './helpers/workers-gateway.ts';

/**
 * Health checks that a stalled, loaded 2-core machine does not fail: two probes timing out at the
 * default 800 ms would mark every instance down and refuse the calls (no_capacity). The fleet
 * stays up in these tests; what is tested is sharing.
 */
const PATIENT_HEALTH = { timeout_ms: 5000, fall: 5 };

describe('server.workers: 2 without Redis: remembered pins shared through the primary', () => {
  const SESSIONS = 40;
  const BATCH = 20;
  let sim: SimFleet;
  let gateway: WorkersGateway;

  beforeAll(async () => {
    sim = await startSimFleet({ count: 10, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20 } });
    gateway = await startWorkersGateway(
      {
        server: { engine: 'ws' },
        cluster: { pin_ttl_s: 600 },
        pools: [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], health: PATIENT_HEALTH, instances: sim.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 4 })) }],
      },
      2,
    );
  }, 90_000);

  afterAll(async () => {
    gateway?.kill();
    await sim?.close();
  });

  /**
   * Opens `keys` in batches held open together (so each worker's bounded-load caps are in play),
   * and returns each key's instance (from `ready`) and the worker that served it (its log line).
   */
  async function connect(keys: string[]): Promise<Map<string, { instance: string; worker: number }>> {
    const out = new Map<string, { instance: string; worker: number }>();
    const logged = gateway.lines().length;
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH);
      const clients = await Promise.all(batch.map((key) => StreamClient.connect(`ws://${gateway.base}/v1/stream?session_id=${key}`)));
      const readies = await Promise.all(
        clients.map(async (client) => {
          client.send({ type: 'start' });
          return (await client.waitType('ready', 10_000)) as Record<string, unknown>;
        }),
      );
      readies.forEach((ready, j) => out.set(batch[j]!, { instance: ready.instance as string, worker: 0 }));
      await Promise.all(clients.map((c) => c.close()));
    }
    const since = (msg: string): LogLine[] => gateway.lines().slice(logged).filter((l) => l.msg === msg && out.has(l.session_id!));
    await expect.poll(() => since('session start').length, { timeout: 5000 }).toBe(keys.length);
    for (const line of since('session start')) out.get(line.session_id!)!.worker = line.pid!;
    // Every session ended (its pin remembered and sent to the primary) before the next round.
    await expect.poll(() => since('session end').length, { timeout: 10_000 }).toBe(keys.length);
    return out;
  }

  it('a session reconnecting with its session_id lands on the same instance whichever worker takes it, 40 of 40; also after both workers were replaced', async () => {
    const keys = Array.from({ length: SESSIONS }, (_, i) => `pin-call-${i}`);
    const first = await connect(keys);
    expect(new Set([...first.values()].map((v) => v.instance)).size).toBeGreaterThan(5);

    // Other calls come and go between, so loads differ from the first time.
    await connect(Array.from({ length: 30 }, (_, i) => `noise-${i}`));
    // Reversed order: the batches meet different loads, and (round-robin) mostly other workers.
    const again = await connect([...keys].reverse());
    const kept = keys.filter((k) => again.get(k)!.instance === first.get(k)!.instance);
    expect(kept).toHaveLength(SESSIONS);
    const otherWorker = keys.filter((k) => again.get(k)!.worker !== first.get(k)!.worker).length;
    expect(otherWorker).toBeGreaterThanOrEqual(SESSIONS / 8);

    // Both workers die in turn (their sessions' pins stay in the primary): every connection now
    // reaches a replacement, which knows the pins only from the snapshot it loaded at start.
    for (const victim of gateway.workerPids().slice(0, 2)) {
      const started = gateway.workerPids().length;
      process.kill(victim, 'SIGKILL');
      await expect.poll(() => gateway.workerPids().length, { timeout: 60_000, interval: 200 }).toBe(started + 1);
      await expect.poll(() => gateway.listening(), { timeout: 60_000, interval: 200 }).toBe(started + 1);
    }
    const replacements = gateway.workerPids().slice(2);
    const after = await connect(keys);
    expect(new Set([...after.values()].map((v) => v.worker))).toEqual(new Set(replacements));
    expect(keys.filter((k) => after.get(k)!.instance === first.get(k)!.instance)).toHaveLength(SESSIONS);
  }, 120_000);
});

describe('server.workers: 2 with cluster.redis_url: stream slots shared through Redis', () => {
  const SENTENCES = ['The first sentence of this answer.', 'A second one follows it closely.', 'And a third one to finish.', 'Plus a fourth for good measure.'];
  const BYTES_PER_MS = 48;
  const CALLS = 24;
  let redis: RunningRedis;
  let sim: SimFleet;
  let gateway: WorkersGateway;

  beforeAll(async () => {
    redis = await startRedis();
    // The fake instances admit up to 10 streams: the cap of 2 must come from the gateway's workers.
    sim = await startSimFleet({ count: 3, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 60, rtf: 0.15, chunk_ms: 40, max: 10 } });
    gateway = await startWorkersGateway(
      {
        server: { engine: 'ws' },
        // A generous Redis bound: on a loaded 2-core machine the default 50 ms would flap into
        // the fallback (tested on its own in cluster-slots.test.ts); this test is about sharing.
        cluster: { redis_url: redis.url, command_timeout_ms: 1000 },
        session: { max_wait_ms: 30_000 },
        // Generous stream timeouts: a retry after a load-induced timeout aborts a stream the fake
        // still counts for a moment, which would be measured as a third stream.
        pools: [{ name: 'gpu', backend: 'openai', voices: ['af_heart'], queue_ms: 100, health: PATIENT_HEALTH, timeouts: { first_audio_ms: 10_000, stall_ms: 10_000 }, instances: sim.instances.map((s) => ({ id: s.id, url: s.url, max_concurrency: 2 })) }],
      },
      2,
    );
  }, 90_000);

  afterAll(async () => {
    gateway?.kill();
    await sim?.close();
    await redis?.close();
  });

  it('24 calls x 4 sentences over both workers: no instance ever serves more than 2 streams, every segment once and in order; one /metrics counts both', async () => {
    const admin = createClient({ url: redis.url });
    await admin.connect();
    try {
      // Both workers are replicas to Redis (their heartbeats) before the calls arrive.
      await expect.poll(() => admin.zCard('voicegate:replicas'), { timeout: 10_000, interval: 100 }).toBe(2);
      for (const inst of sim.instances) inst.resetPeak();
      const logged = gateway.lines().length;
      const clients = await Promise.all(
        Array.from({ length: CALLS }, async (_, i) => {
          const client = await StreamClient.connect(`ws://${gateway.base}/v1/stream?session_id=shared-${i}`);
          client.send({ type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 24000 } });
          await client.waitType('ready', 10_000);
          client.send({ type: 'text', text: SENTENCES.join(' ') });
          client.send({ type: 'flush' });
          return client;
        }),
      );
      await Promise.all(clients.map((c) => c.waitType('turn_end', 60_000)));
      expect(clients.flatMap((c, i) => checkCall(c, SENTENCES, BYTES_PER_MS, null).problems.map((p) => `call ${i}: ${p}`))).toEqual([]);
      const peaks = sim.instances.map((s) => s.peakStreams());
      expect(Math.max(...peaks)).toBeLessThanOrEqual(2);
      // The fleet was really full at some point (each worker alone with its own count would reach 4).
      expect(peaks.some((p) => p === 2)).toBe(true);
      await Promise.all(clients.map((c) => c.close()));

      // Both workers took calls.
      const starts = gateway.lines().slice(logged).filter((l) => l.msg === 'session start');
      expect(starts).toHaveLength(CALLS);
      expect(new Set(starts.map((l) => l.pid)).size).toBe(2);
      expect([...new Set(starts.map((l) => l.pid))].sort()).toEqual([...gateway.workerPids()].sort());

      // One scrape, whichever worker answers it, counts both workers' calls; Redis up on both
      // (the gauge is the min across workers).
      await expect.poll(() => gateway.lines().slice(logged).filter((l) => l.msg === 'session end').length, { timeout: 10_000 }).toBe(CALLS);
      for (let scrape = 0; scrape < 3; scrape++) {
        const text = await fetch(`http://${gateway.base}/metrics`).then((r) => r.text());
        const total = [...text.matchAll(/^voicegate_sessions_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
        expect(total).toBe(CALLS);
        expect(text).toMatch(/^voicegate_cluster_redis_up 1$/m);
        for (const pid of gateway.workerPids()) expect(text).toMatch(new RegExp(`^process_resident_memory_bytes\\{worker="${pid}"\\} \\d+`, 'm'));
      }
    } finally {
      await admin.quit();
    }
  }, 120_000);
});
