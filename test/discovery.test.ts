/**
 * DNS discovery end to end: a gateway whose pool is found through a (fake, injected) resolver,
 * GPU instances on 127.0.0.2–.4 sharing one port the way pods behind a headless Service do.
 * Instances appear → they join (pins, /admin/instances, /metrics); an address vanishes → it
 * leaves the ring while survivors keep their pins; a call pinned to a vanished instance that
 * also dies fails over by the usual paths. Loopback only, no real DNS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceIdFromUrl, parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import type { InstanceStatus } from '../src/server/admin.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { StreamClient } from './helpers/stream-client.ts';
import { freePort } from './helpers/ports.ts';

const DNS = 'tts-gpu.voicegate.svc.cluster.local';
const ADDRS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const KEYS = Array.from({ length: 300 }, (_, i) => `call-${i}`);

describe('DNS discovery through the gateway', () => {
  const sims = new Map<string, SimFleet>();
  let port = 0;
  let answer: string[] = [];
  let lookups = 0;
  let gateway: Gateway;
  let base: string;
  const idOf = (addr: string) => instanceIdFromUrl(`http://${addr}:${port}`);

  beforeAll(async () => {
    for (let attempt = 0; attempt < 3 && sims.size < ADDRS.length; attempt++) {
      for (const sim of sims.values()) await sim.close();
      sims.clear();
      port = await freePort();
      try {
        for (const host of ADDRS) {
          sims.set(host, await startSimFleet({ host, instances: [{ id: `gpu-${host}`, port }], controlPort: null, latency: { first_audio_ms: 30, rtf: 0.05, chunk_ms: 40 } }));
        }
      } catch {
        // The port was taken on another loopback address meanwhile: try another.
      }
    }
    expect(sims.size).toBe(ADDRS.length);
    answer = ADDRS.slice(0, 2);
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0, engine: 'ws' },
      pools: [
        {
          name: 'gpu',
          backend: 'openai',
          voices: ['af_heart'],
          discovery: { dns: DNS, port, interval_ms: 60_000, max_concurrency: 8 },
          health: { interval_ms: 100, timeout_ms: 300, fall: 2, rise: 2 },
          timeouts: { connect_ms: 300, first_audio_ms: 800, stall_ms: 800 },
        },
      ],
    });
    gateway = await createGateway({
      config,
      resolveDns: async (name) => {
        lookups++;
        expect(name).toBe(DNS);
        return [...answer];
      },
    });
    base = `127.0.0.1:${await gateway.listen()}`;
  });

  afterAll(async () => {
    await gateway?.close();
    for (const sim of sims.values()) await sim.close();
  });

  const adminInstances = async (): Promise<InstanceStatus[]> => {
    const res = await fetch(`http://${base}/admin/instances`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { instances: InstanceStatus[] }).instances;
  };
  const pool = () => gateway.fleet.pool('gpu')!;
  const firstChoices = () => new Map(KEYS.map((k) => [k, pool().candidates(k, undefined, 1)[0]?.id]));

  async function call(key: string): Promise<StreamClient> {
    const client = await StreamClient.connect(`ws://${base}/v1/stream?session_id=${key}`);
    client.send({ type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: 24000 } });
    await client.waitType('ready');
    return client;
  }

  async function turn(client: StreamClient, text: string): Promise<void> {
    const before = client.ofType('turn_end').length;
    client.send({ type: 'text', text });
    client.send({ type: 'flush' });
    await client.waitCount('turn_end', before + 1, 10_000);
  }

  it('the first answer is in the ring before listen() returns: /admin/instances lists it and calls are pinned there', async () => {
    expect(lookups).toBe(1);
    const listed = await adminInstances();
    expect(listed.map((i) => i.id).sort()).toEqual([idOf(ADDRS[0]!), idOf(ADDRS[1]!)].sort());
    expect(listed.map((i) => i.url).sort()).toEqual([`http://${ADDRS[0]}:${port}`, `http://${ADDRS[1]}:${port}`]);
    expect(listed.every((i) => i.capacity === 8 && i.health === 'up')).toBe(true);

    const client = await call('first-call');
    const ready = client.events[0] as Record<string, unknown>;
    expect(ready.instance).toBe(pool().candidates('first-call', undefined, 1)[0]!.id);
    await turn(client, 'Hello from a discovered instance.');
    expect(client.ofType('segment')[0]!.provider).toBe(ready.instance);
    expect(client.audioBytes().length).toBeGreaterThan(1000);
    await client.close();
  });

  it('an address that appears joins: pins move only onto it, /admin/instances and /metrics show it', async () => {
    const before = firstChoices();
    answer = [...ADDRS];
    const change = await gateway.discovery[0]!.refresh();
    expect(change?.added.map((a) => a.id)).toEqual([idOf(ADDRS[2]!)]);
    expect((await adminInstances()).map((i) => i.id)).toContain(idOf(ADDRS[2]!));
    const after = firstChoices();
    const moved = KEYS.filter((k) => after.get(k) !== before.get(k));
    expect(moved.length).toBeGreaterThan(30);
    for (const k of moved) expect(after.get(k)).toBe(idOf(ADDRS[2]!));
    const metrics = await (await fetch(`http://${base}/metrics`)).text();
    expect(metrics).toContain(`voicegate_instance_capacity{pool="gpu",instance="${idOf(ADDRS[2]!)}"} 8`);

    // A call whose key now hashes to the newcomer is served by it.
    const key = moved[0]!;
    const client = await call(key);
    expect((client.events[0] as Record<string, unknown>).instance).toBe(idOf(ADDRS[2]!));
    await turn(client, 'Served by the new instance.');
    expect(client.ofType('segment')[0]!.provider).toBe(idOf(ADDRS[2]!));
    await client.close();
  });

  it('an address that vanishes leaves the ring; survivors keep their pins; its idle entry and gauges go', async () => {
    const gone = idOf(ADDRS[1]!);
    await expect.poll(() => pool().instance(gone)?.sessions ?? 0).toBe(0);
    const before = firstChoices();
    answer = [ADDRS[0]!, ADDRS[2]!];
    const change = await gateway.discovery[0]!.refresh();
    expect(change?.removed.map((r) => r.id)).toEqual([gone]);
    expect((await adminInstances()).map((i) => i.id)).not.toContain(gone);
    const after = firstChoices();
    for (const k of KEYS) {
      if (before.get(k) === gone) expect(after.get(k)).not.toBe(gone);
      else expect(after.get(k)).toBe(before.get(k));
    }
    const metrics = await (await fetch(`http://${base}/metrics`)).text();
    expect(metrics).not.toContain(`voicegate_instance_up{pool="gpu",instance="${gone}"}`);
    expect(metrics).toContain(`voicegate_instance_up{pool="gpu",instance="${idOf(ADDRS[0]!)}"} 1`);
  });

  it('a call pinned to an instance that vanishes keeps it while it answers, and fails over when it dies', async () => {
    answer = [...ADDRS];
    await gateway.discovery[0]!.refresh();
    const leaving = idOf(ADDRS[1]!);
    const key = KEYS.find((k) => pool().candidates(k, undefined, 1)[0]!.id === leaving)!;
    const client = await call(key);
    expect((client.events[0] as Record<string, unknown>).instance).toBe(leaving);

    answer = [ADDRS[0]!, ADDRS[2]!];
    await gateway.discovery[0]!.refresh();
    const retiring = (await adminInstances()).find((i) => i.id === leaving);
    expect(retiring).toMatchObject({ retiring: true, sessions: 1 });
    // Still alive (a pod out of DNS but finishing its calls): the pinned call stays on it.
    await turn(client, 'Still on the retiring instance.');
    expect(client.ofType('segment').at(-1)!.provider).toBe(leaving);

    // Now it dies: the next turn fails over to a member, the call does not go silent.
    await sims.get(ADDRS[1]!)!.instances[0]!.stop();
    await turn(client, 'The instance is gone now.');
    const last = client.ofType('segment').at(-1)!;
    expect([idOf(ADDRS[0]!), idOf(ADDRS[2]!)]).toContain(last.provider);
    expect(client.ofType('failover').at(-1)).toMatchObject({ from: leaving });
    await client.close();
    // Its last session ended: the retiring instance is dropped.
    await expect.poll(async () => (await adminInstances()).some((i) => i.id === leaving), { timeout: 3000 }).toBe(false);
  });
});
