/**
 * Routing end to end (issue: session routing): 10 fake GPU instances, 200 sessions report
 * their pins in `ready`; one instance is stopped and found down by the health checks;
 * reconnecting sessions of the other nine keep their pins and the dead one's spread out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { StreamClient } from './helpers/stream-client.ts';

const SESSIONS = 200;

describe('routing end to end: 10 instances, 200 sessions, one dies', () => {
  let fleet: SimFleet;
  let gateway: Gateway;
  let base: string;

  beforeAll(async () => {
    fleet = await startSimFleet({ count: 10, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20 } });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0, engine: 'auto' },
      pools: [
        {
          name: 'kokoro',
          backend: 'openai',
          model: 'kokoro',
          voices: ['af_heart'],
          instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 4 })),
          health: { interval_ms: 100, timeout_ms: 200, fall: 2, rise: 2 },
        },
      ],
    });
    gateway = await createGateway({ config });
    const port = await gateway.listen();
    base = `127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
  });

  async function pinsOf(keys: string[]): Promise<Map<string, string>> {
    const pins = new Map<string, string>();
    // Sessions come and go one at a time, so the pins are pure hashing (no load caps in play).
    for (const key of keys) {
      const client = await StreamClient.connect(`ws://${base}/v1/stream?session_id=${key}`);
      client.send({ type: 'start' });
      const ready = (await client.waitType('ready')) as Record<string, unknown>;
      pins.set(key, ready.instance as string);
      await client.close();
    }
    return pins;
  }

  it('keeps survivors on their pins and spreads the dead instance’s sessions', async () => {
    const keys = Array.from({ length: SESSIONS }, (_, i) => `call-${i}`);
    const before = await pinsOf(keys);
    const used = new Set(before.values());
    expect(used.size).toBe(10);

    // Same fleet, same pins: a reconnect is stable.
    const again = await pinsOf(keys.slice(0, 40));
    for (const [key, pin] of again) expect(pin).toBe(before.get(key));

    const victim = fleet.instances[3]!;
    const victimSessions = keys.filter((k) => before.get(k) === victim.id);
    expect(victimSessions.length).toBeGreaterThan(5);
    await victim.stop();
    await expect
      .poll(async () => {
        const res = await fetch(`http://${base}/admin/instances`);
        const body = (await res.json()) as { instances: { id: string; healthy: boolean }[] };
        return body.instances.find((i) => i.id === victim.id)?.healthy;
      }, { timeout: 3000, interval: 50 })
      .toBe(false);

    const after = await pinsOf(keys);
    let moved = 0;
    for (const key of keys) {
      if (before.get(key) === victim.id) continue;
      if (after.get(key) !== before.get(key)) moved++;
    }
    expect(moved).toBe(0);
    const newHomes = new Set(victimSessions.map((k) => after.get(k)));
    expect(newHomes.has(victim.id)).toBe(false);
    expect(newHomes.size).toBeGreaterThan(1);
  });
});
