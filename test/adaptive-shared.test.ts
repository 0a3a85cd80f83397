/**
 * The gateway wires the shared adaptive limit when cluster.redis_url is set: a limit another
 * replica left in Redis is adopted once this gateway has measured its baseline, and what this
 * gateway then learns is written back. Real Redis, simulated GPU, loopback, bounded in time.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import type { InstanceEvent } from '../src/routing/events.ts';
import { startSimFleet } from '../src/sim/fleet.ts';
import { startRedis, type RunningRedis } from './helpers/redis.ts';
import { StreamClient } from './helpers/stream-client.ts';

const START = { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: 16000 } };

let redis: RunningRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.close();
});

it('with cluster.redis_url, an instance adopts the limit in Redis (another replica\'s) and keeps it there', async () => {
  const fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 100, rtf: 0.05, chunk_ms: 200, comfortable: 8, slowdown: 0.3, max: 12 } });
  const id = fleet.instances[0]!.id;
  const key = `voicegate:limit:kokoro/${id}`;
  const peer = createClient({ url: redis.url });
  await peer.connect();
  await peer.set(key, '5'); // another replica learned 5
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    // A generous Redis bound: a loaded 2-core machine must not count as "Redis down" here.
    cluster: { redis_url: redis.url, command_timeout_ms: 2000 },
    pools: [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], instances: [{ id, url: fleet.instances[0]!.url, max_concurrency: 8 }], capacity: { mode: 'adaptive' }, timeouts: { first_audio_ms: 3000, stall_ms: 3000 } }],
  });
  const gateway = await createGateway({ config });
  const events: InstanceEvent[] = [];
  gateway.fleet.on('instance', (e) => events.push(e));
  try {
    const url = `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
    const until = performance.now() + 8000;
    // One call, one sentence at a time: first audio samples at one stream, the baseline window.
    while (performance.now() < until && !events.some((e) => e.type === 'capacity' && e.limit === 5 && /^shared/.test(e.reason ?? ''))) {
      const c = await StreamClient.started(`${url}?session_id=one`, START);
      c.send({ type: 'text', text: 'The order left the warehouse today. ' });
      c.send({ type: 'flush' });
      await c.waitType('turn_end', 10_000);
      await c.close();
    }
    expect(events.filter((e) => e.type === 'capacity').map((e) => [e.limit, (e.reason ?? '').split(' ')[0]])).toContainEqual([5, 'shared']);
    expect(gateway.fleet.snapshot()[0]!.capacity).toBe(Number(await peer.get(key)));
  } finally {
    await peer.quit();
    await gateway.close();
    await fleet.close();
  }
}, 30_000);
