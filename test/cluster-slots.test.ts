/**
 * Shared stream slots across gateway replicas (issue #19 items 1 and 3), against a real
 * redis-server and the fleet simulator. Two Gateway instances in this process, each with its
 * own ClusterRedis connection, stand for two replicas. Concurrency is counted inside the fake
 * instances (SimInstance.peakStreams), not by the gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { checkCall } from './helpers/call-check.ts';
import { startRedis, type RunningRedis } from './helpers/redis.ts';
import { StreamClient } from './helpers/stream-client.ts';

const SENTENCES = ['The first sentence of this answer.', 'A second one follows it closely.', 'And a third one to finish.', 'Plus a fourth for good measure.'];
const BYTES_PER_MS = 48;

let redis: RunningRedis;
let fleet: SimFleet;
const gateways: Gateway[] = [];

async function replica(): Promise<{ gateway: Gateway; url: string }> {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    cluster: { redis_url: redis.url, lease_ttl_ms: 1000 },
    session: { max_wait_ms: 30_000 },
    pools: [{ name: 'gpu', backend: 'openai', voices: ['af_heart'], queue_ms: 100, instances: fleet.instances.map((s) => ({ id: s.id, url: s.url, max_concurrency: 2 })) }],
  });
  const gateway = await createGateway({ config });
  gateways.push(gateway);
  return { gateway, url: `ws://127.0.0.1:${await gateway.listen()}/v1/stream` };
}

async function call(url: string, id: string): Promise<StreamClient> {
  const client = await StreamClient.connect(`${url}?session_id=${id}`);
  client.send({ type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 24000 } });
  await client.waitType('ready', 10_000);
  client.send({ type: 'text', text: SENTENCES.join(' ') });
  client.send({ type: 'flush' });
  return client;
}

function problems(clients: StreamClient[]): string[] {
  return clients.map((c, i) => checkCall(c, SENTENCES, BYTES_PER_MS, null).problems.map((p) => `call ${i}: ${p}`)).flat();
}

async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  redis = await startRedis();
  // The fake instances admit up to 10 streams: the cap of 2 must come from the gateways.
  fleet = await startSimFleet({ count: 3, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 60, rtf: 0.15, chunk_ms: 40, max: 10 } });
});

afterAll(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  await fleet?.close();
  await redis?.close();
});

describe('shared stream slots across two replicas (real Redis)', () => {
  it('24 calls x 4 sentences split between two replicas: no instance ever serves more than 2 streams, every segment once and in order', async () => {
    const [a, b] = [await replica(), await replica()];
    for (const inst of fleet.instances) inst.resetPeak();
    const clients = await Promise.all(Array.from({ length: 24 }, (_, i) => call(i % 2 === 0 ? a.url : b.url, `shared-${i}`)));
    await Promise.all(clients.map((c) => c.waitType('turn_end', 60_000)));
    expect(problems(clients)).toEqual([]);
    const peaks = fleet.instances.map((s) => s.peakStreams());
    expect(Math.max(...peaks)).toBeLessThanOrEqual(2);
    // Both replicas served, and the fleet was really full at some point.
    expect(peaks.some((p) => p === 2)).toBe(true);
    await Promise.all(clients.map((c) => c.close()));
  }, 90_000);

  it('Redis stopped in the middle of 20 live calls: no call loses a segment, caps fall back to ceil(2 / 2) = 1 per replica, shared again after Redis returns', async () => {
    const [a, b] = gateways;
    const urls = await Promise.all([a!, b!].map(async (g) => `ws://127.0.0.1:${g.port}/v1/stream`));
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => call(urls[i % 2]!, `down-${i}`)));
    await new Promise((r) => setTimeout(r, 150));
    await redis.stop();
    for (const inst of fleet.instances) inst.resetPeak();
    const metricsA = await a!.metrics.render();
    await Promise.all(clients.map((c) => c.waitType('turn_end', 60_000)));
    expect(problems(clients)).toEqual([]);
    // Each replica takes at most ceil(2 / 2) = 1 per instance while Redis is down: 2 in all.
    // (Streams that started before the outage may still be finishing when the peak resets.)
    expect(Math.max(...fleet.instances.map((s) => s.peakStreams()))).toBeLessThanOrEqual(2);
    const ready = await fetch(urls[0]!.replace('ws://', 'http://').replace('/v1/stream', '/ready'));
    expect(ready.status).toBe(200);
    expect(metricsA + (await a!.metrics.render())).toMatch(/voicegate_cluster_fallback_total\{reason="[a-z]+"\} [1-9]/);
    await Promise.all(clients.map((c) => c.close()));

    await redis.start();
    const back = Date.now();
    // Shared again: a fresh round of calls keeps every instance at 2.
    let up = false;
    while (!up && Date.now() - back < 5000) {
      up = /voicegate_cluster_redis_up 1\b/.test(await a!.metrics.render()) && /voicegate_cluster_redis_up 1\b/.test(await b!.metrics.render());
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    expect(up).toBe(true);
    expect(Date.now() - back).toBeLessThan(2000 + 1000);
    for (const inst of fleet.instances) inst.resetPeak();
    const again = await Promise.all(Array.from({ length: 12 }, (_, i) => call(urls[i % 2]!, `again-${i}`)));
    await Promise.all(again.map((c) => c.waitType('turn_end', 60_000)));
    expect(problems(again)).toEqual([]);
    expect(Math.max(...fleet.instances.map((s) => s.peakStreams()))).toBeLessThanOrEqual(2);
    await Promise.all(again.map((c) => c.close()));
  }, 120_000);
});
