/**
 * `cluster.command_timeout_ms` reaches the gateway's Redis connection: with Redis blocked for
 * 1.5 s (DEBUG SLEEP; Redis is single-threaded), the lease renewal that falls into the block
 * takes up to 1.5 s. A gateway bounded at 300 ms counts Redis as down (slow); one bounded at
 * 5000 ms keeps it up. Real redis-server, no fleet traffic needed (renewals run every second).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createClient } from 'redis';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { startRedis, type RunningRedis } from './helpers/redis.ts';

let redis: RunningRedis;
let fleet: SimFleet;
const gateways: Gateway[] = [];

beforeAll(async () => {
  redis = await startRedis();
  fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null });
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await fleet?.close();
  await redis?.close();
});

async function gateway(commandTimeoutMs: number): Promise<Gateway> {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    cluster: { redis_url: redis.url, command_timeout_ms: commandTimeoutMs },
    pools: [{ name: 'gpu', backend: 'openai', voices: ['af_heart'], instances: fleet.instances.map((s) => ({ id: s.id, url: s.url })) }],
  });
  const g = await createGateway({ config });
  gateways.push(g);
  return g;
}

const redisUp = async (g: Gateway): Promise<boolean> => /^voicegate_cluster_redis_up 1$/m.test(await g.metrics.render());
const slowFallbacks = async (g: Gateway): Promise<number> => Number(/^voicegate_cluster_fallback_total\{reason="slow"\} (\d+)$/m.exec(await g.metrics.render())?.[1] ?? 0);

it('a Redis blocked for 1.5 s is "down (slow)" under command_timeout_ms 300 and stays up under 5000', async () => {
  const tight = await gateway(300);
  const loose = await gateway(5000);
  const deadline = Date.now() + 10_000;
  while (!((await redisUp(tight)) && (await redisUp(loose)))) {
    if (Date.now() > deadline) throw new Error('the gateways never saw Redis up');
    await new Promise((r) => setTimeout(r, 50));
  }
  const blocker = createClient({ url: redis.url });
  await blocker.connect();
  try {
    await blocker.sendCommand(['DEBUG', 'SLEEP', '1.5']);
  } finally {
    await blocker.close();
  }
  // The tight gateway's renewal waited past its bound; the loose one's did not.
  expect(await slowFallbacks(tight)).toBeGreaterThanOrEqual(1);
  expect(await slowFallbacks(loose)).toBe(0);
  expect(await redisUp(loose)).toBe(true);
}, 30_000);
