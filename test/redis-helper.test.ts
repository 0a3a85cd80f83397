import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { startRedis, type RunningRedis } from './helpers/redis.ts';

describe('test/helpers/redis.ts: a real redis-server by pid', () => {
  let redis: RunningRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('serves, stops (clients see it down) and restarts empty on the same port', async () => {
    const client = createClient({ url: redis.url, socket: { reconnectStrategy: false } });
    client.on('error', () => {});
    await client.connect();
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    await client.quit();
    const pid = redis.pid;
    await redis.stop();
    expect(redis.pid).toBeNull();
    const refused = createClient({ url: redis.url, socket: { reconnectStrategy: false, connectTimeout: 500 } });
    refused.on('error', () => {});
    await expect(refused.connect()).rejects.toThrow();
    await redis.start();
    expect(redis.pid).not.toBe(pid);
    const again = createClient({ url: redis.url });
    again.on('error', () => {});
    await again.connect();
    expect(await again.get('k')).toBeNull();
    await again.quit();
  });
});
