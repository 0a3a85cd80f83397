/**
 * When the whole fleet is full or failing at once (docs/failover.md "When the whole fleet is
 * full"): a segment waits for the first slot freed anywhere it may go instead of being dropped,
 * gives up only after session.max_wait_ms (once per turn, fleet_saturated), and no slot leaks.
 * Simulated GPUs and the fake Cartesia on loopback; bounded in count and time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { textDurationMs } from '../src/sim/audio.ts';
import { startFakeCartesia, type FakeCartesia } from '../src/sim/cartesia.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import type { LatencyModel } from '../src/sim/latency.ts';
import { checkCall, type CallReport } from './helpers/call-check.ts';
import { StreamClient, refusedUpgrade } from './helpers/stream-client.ts';

const RATE = 16000;
const BYTES_PER_MS = (RATE * 2) / 1000;
const SENTENCES = ['The order left the warehouse today.', 'It should arrive on Thursday.', 'You will get a text when it ships.', 'Anything else I can do for you?'];
const START = { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: RATE } };

interface Rig {
  fleet: SimFleet;
  cartesia: FakeCartesia | null;
  gateway: Gateway;
  url: string;
  base: string;
}

let rig: Rig | null = null;

afterEach(async () => {
  const r = rig;
  rig = null;
  await r?.gateway.close();
  await r?.fleet.close();
  await r?.cartesia?.close();
});

interface RigOptions {
  count: number;
  latency?: Partial<LatencyModel>;
  maxConcurrency: number;
  /** Fallback contexts (null: no fallback). */
  fallback: number | null;
  firstAudioMs?: number;
  maxWaitMs?: number;
  admission?: 'queue' | 'refuse';
  engine?: 'uws' | 'ws';
}

async function startRig(options: RigOptions): Promise<Rig> {
  const fleet = await startSimFleet({
    count: options.count,
    protocol: 'openai',
    controlPort: null,
    latency: { first_audio_ms: 60, rtf: 0.15, chunk_ms: 200, comfortable: 6, max: 6, ...options.latency },
  });
  const cartesia = options.fallback === null ? null : await startFakeCartesia({ ttfaMs: 60, msPerChar: 70, rtf: 0.15, maxContexts: options.fallback });
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0, engine: options.engine ?? 'auto', admission: options.admission ?? 'queue' },
    session: { max_wait_ms: options.maxWaitMs ?? 10_000 },
    pools: [
      {
        name: 'kokoro',
        backend: 'openai',
        model: 'kokoro',
        voices: ['af_heart'],
        instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: options.maxConcurrency })),
        health: { interval_ms: 200, timeout_ms: 1000, fall: 2, rise: 2, eject_after: 3, eject_base_ms: 1000, eject_max_ms: 4000 },
        timeouts: { connect_ms: 300, first_audio_ms: options.firstAudioMs ?? 800, stall_ms: 800 },
      },
    ],
    fallback: cartesia
      ? { backend: 'cartesia', url: cartesia.url, api_key: 'test', max_concurrency: options.fallback!, voice_map: { default: 'cartesia-voice' }, timeouts: { first_audio_ms: 1500, stall_ms: 1500 } }
      : undefined,
  });
  const gateway = await createGateway({ config });
  const port = await gateway.listen();
  rig = { fleet, cartesia, gateway, url: `ws://127.0.0.1:${port}/v1/stream`, base: `http://127.0.0.1:${port}` };
  return rig;
}

function startCalls(r: Rig, n: number, prefix: string): Promise<StreamClient[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => StreamClient.started(`${r.url}?session_id=${prefix}-${i}`, START)));
}

function speak(client: StreamClient, sentences = SENTENCES): void {
  for (const s of sentences) client.send({ type: 'text', text: `${s} ` });
  client.send({ type: 'flush' });
}

async function turnEnds(clients: StreamClient[], count: number, timeoutMs: number): Promise<void> {
  await Promise.all(clients.map((c) => c.waitCount('turn_end', count, timeoutMs)));
}

/**
 * Every change of provider between consecutive segments is explained to the client: a failover
 * event for one of the two segments (or, for the first, against the pin in `ready`).
 */
function unexplainedProviderChanges(client: StreamClient, report: CallReport): string[] {
  const pin = String((client.events[0] as Record<string, unknown>).instance);
  const moved = new Set(report.failovers.map((f) => f.index as number));
  const out: string[] = [];
  report.providers.forEach((provider, n) => {
    const before = n === 0 ? pin : report.providers[n - 1];
    if (provider !== before && !moved.has(n) && !(n > 0 && moved.has(n - 1))) out.push(`segment ${n}: ${before} → ${provider} without a failover event`);
  });
  return out;
}

async function adminInstances(r: Rig): Promise<{ id: string; streams: number; queued?: number }[]> {
  const body = (await (await fetch(`${r.base}/admin/instances`)).json()) as { instances: { id: string; streams: number }[] };
  return body.instances;
}

async function expectAllSlotsFree(r: Rig): Promise<void> {
  await expect.poll(async () => (await adminInstances(r)).map((i) => `${i.id}:${i.streams}`).join(' '), { timeout: 5000, interval: 50 }).toMatch(/^(\S+:0 ?)+$/);
  for (const queue of r.gateway.sessions.queues.values()) expect(queue.size).toBe(0);
}

describe('the whole fleet full or failing at once', () => {
  it('1 healthy, 1 hanging, 1 dying instance and 15 fallback contexts: 30 calls × 4 sentences all heard, once, in order, every move announced', async () => {
    const r = await startRig({ count: 3, maxConcurrency: 6, fallback: 15, firstAudioMs: 800 });
    const [healthy, hanging, dying] = r.fleet.instances;
    expect(healthy).toBeDefined();
    await hanging!.setFaults({ hang: true });
    const clients = await startCalls(r, 30, 'mixed');
    for (const c of clients) speak(c);
    setTimeout(() => void dying!.stop(), 500);
    await turnEnds(clients, 1, 40_000);
    const broken: string[] = [];
    for (const [i, c] of clients.entries()) {
      const report = checkCall(c, SENTENCES, BYTES_PER_MS, (t) => textDurationMs(t.trim()));
      broken.push(...report.problems.map((p) => `call ${i}: ${p}`));
      broken.push(...unexplainedProviderChanges(c, report).map((p) => `call ${i}: ${p}`));
    }
    expect(broken).toEqual([]);
    expect(clients.flatMap((c) => c.ofType('failover')).length).toBeGreaterThan(0);
    await Promise.all(clients.map((c) => c.close()));
    await expectAllSlotsFree(r);
  }, 60_000);

  it('24 calls × 4 sentences on 2 instances of 2 streams and 2 fallback contexts: all 96 delivered in order, never more than 2 streams on an instance; long waits are told', async () => {
    const r = await startRig({ count: 2, maxConcurrency: 2, fallback: 2, firstAudioMs: 600 });
    const clients = await startCalls(r, 24, 'tight');
    for (const c of clients) speak(c);
    await turnEnds(clients, 1, 50_000);
    const broken = clients.flatMap((c, i) => checkCall(c, SENTENCES, BYTES_PER_MS, (t) => textDurationMs(t.trim())).problems.map((p) => `call ${i}: ${p}`));
    expect(broken).toEqual([]);
    for (const inst of r.fleet.instances) expect(inst.peakStreams()).toBeLessThanOrEqual(2);
    expect(r.cartesia!.peakContexts()).toBeLessThanOrEqual(2);
    // Waits beyond first_audio_ms were announced, before the segment's audio, with a queue position.
    const waiting = clients.flatMap((c) => c.ofType('waiting'));
    expect(waiting.length).toBeGreaterThan(0);
    for (const c of clients) {
      for (const w of c.ofType('waiting')) {
        expect(w.queue_position as number).toBeGreaterThanOrEqual(1);
        const at = c.events.indexOf(w as never);
        const segAt = c.events.findIndex((e) => e.type === 'segment' && (e as Record<string, unknown>).index === w.index);
        expect(at).toBeLessThan(segAt);
      }
    }
    // The fallback's contexts show like an instance's streams: in /admin/instances and the gauges.
    const fallbackRow = (await adminInstances(r)).find((i) => i.id === 'cartesia') as { capacity?: number; pool?: string } | undefined;
    expect(fallbackRow).toMatchObject({ pool: 'fallback', capacity: 2 });
    expect(await r.gateway.metrics.render()).toMatch(/voicegate_instance_capacity\{pool="fallback",instance="cartesia"\} 2/);
    await Promise.all(clients.map((c) => c.close()));
    await expectAllSlotsFree(r);
    // The queue's metrics saw the waits.
    const metrics = await r.gateway.metrics.render();
    expect(metrics).toMatch(/voicegate_queue_wait_seconds_count\{pool="kokoro",class="(continuing|new_turn)"\} [1-9]/);
  }, 70_000);

  it('config says 4 streams but each server takes only 2 and answers 503 past that: nothing is lost', async () => {
    const r = await startRig({ count: 2, maxConcurrency: 4, fallback: 2, latency: { max: 2, comfortable: 2, over_capacity_status: 503 } });
    const clients = await startCalls(r, 24, 'liar');
    for (const c of clients) speak(c);
    await turnEnds(clients, 1, 50_000);
    const broken = clients.flatMap((c, i) => checkCall(c, SENTENCES, BYTES_PER_MS, (t) => textDurationMs(t.trim())).problems.map((p) => `call ${i}: ${p}`));
    expect(broken).toEqual([]);
    // The 503s were taken as "full", not "broken": no instance was ejected for them.
    const overflow = clients.flatMap((c) => c.ofType('failover')).filter((f) => f.reason === 'overflow');
    expect(overflow.length).toBeGreaterThan(0);
    expect((await adminInstances(r)).every((i) => (i as { health?: string }).health !== 'ejected')).toBe(true);
    await Promise.all(clients.map((c) => c.close()));
  }, 70_000);

  it('max_wait_ms 300: at most one fleet_saturated per turn naming the unspoken segments; the call stays usable and the process healthy', async () => {
    const r = await startRig({ count: 2, maxConcurrency: 2, fallback: 2, maxWaitMs: 300, latency: { rtf: 0.3 } });
    const clients = await startCalls(r, 24, 'short');
    for (const c of clients) speak(c);
    await turnEnds(clients, 1, 40_000);
    let saturatedCalls = 0;
    for (const c of clients) {
      const errors = c.ofType('error');
      expect(errors.every((e) => e.code === 'fleet_saturated' && e.fatal === false)).toBe(true);
      expect(errors.length).toBeLessThanOrEqual(1);
      const spoken = c.ofType('segment_end').map((e) => e.index as number);
      const unspoken = errors.length ? (errors[0]!.segments as number[]) : [];
      // Each index once: spoken or named as not spoken, never both, never neither.
      expect([...spoken, ...unspoken].sort()).toEqual([0, 1, 2, 3]);
      if (errors.length) {
        saturatedCalls++;
        // The error comes before the turn's end.
        expect(c.events.findIndex((e) => e.type === 'error')).toBeLessThan(c.events.findIndex((e) => e.type === 'turn_end'));
      }
    }
    expect(saturatedCalls).toBeGreaterThan(0);
    const given = await r.gateway.metrics.render();
    expect(given).toMatch(/voicegate_segments_given_up_total\{pool="kokoro",reason="max_wait"\} [1-9]/);
    // Load gone: the next turn of a saturated call is spoken whole.
    const again = clients.find((c) => c.ofType('error').length > 0)!;
    speak(again, SENTENCES.slice(0, 2));
    await again.waitCount('turn_end', 2, 15_000);
    const secondTurn = again.events.slice(again.events.findIndex((e) => e.type === 'turn_end') + 1);
    expect(secondTurn.filter((e) => e.type === 'segment_end')).toHaveLength(2);
    expect(secondTurn.filter((e) => e.type === 'error')).toHaveLength(0);
    expect((await fetch(`${r.base}/health`)).status).toBe(200);
    await Promise.all(clients.map((c) => c.close()));
    await expectAllSlotsFree(r);
  }, 60_000);

  it('one of three instances answers 500 to 30 % of requests and the rest are busy: no sentence lost; speech responses are whole', async () => {
    const r = await startRig({ count: 3, maxConcurrency: 2, fallback: 2 });
    await r.fleet.instances[0]!.setFaults({ error_rate: 0.3, error_status: 500 });
    const clients = await startCalls(r, 20, 'flaky');
    for (const c of clients) speak(c);
    const text = SENTENCES.slice(0, 3).join(' ');
    const speeches = Array.from({ length: 8 }, () =>
      fetch(`${r.base}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'kokoro', voice: 'af_heart', input: text, response_format: 'pcm' }) }).then(async (res) => ({ status: res.status, bytes: (await res.arrayBuffer()).byteLength })),
    );
    await turnEnds(clients, 1, 50_000);
    const broken = clients.flatMap((c, i) => checkCall(c, SENTENCES, BYTES_PER_MS, (t) => textDurationMs(t.trim())).problems.map((p) => `call ${i}: ${p}`));
    expect(broken).toEqual([]);
    // Each 200 carries all of its audio (24 kHz s16le of the three sentences).
    const expectedBytes = SENTENCES.slice(0, 3).reduce((sum, s) => sum + (textDurationMs(s) * 48), 0);
    for (const s of await Promise.all(speeches)) {
      expect(s.status).toBe(200);
      expect(Math.abs(s.bytes - expectedBytes)).toBeLessThan(expectedBytes * 0.05);
    }
    await Promise.all(clients.map((c) => c.close()));
  }, 70_000);

  it('server.admission refuse: late calls get 503 at_capacity with Retry-After; calls already speaking lose nothing', async () => {
    const r = await startRig({ count: 2, maxConcurrency: 2, fallback: null, firstAudioMs: 300, admission: 'refuse', latency: { rtf: 0.2 } });
    const clients = await startCalls(r, 8, 'early');
    for (const c of clients) speak(c);
    await expect.poll(() => r.gateway.sessions.saturated('kokoro'), { timeout: 10_000, interval: 20 }).toBe(true);
    const refused = await refusedUpgrade(`${r.url}?session_id=late`);
    expect(refused?.status).toBe(503);
    expect(refused?.body).toMatchObject({ code: 'at_capacity' });
    const speech = await fetch(`${r.base}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'kokoro', voice: 'af_heart', input: 'Hello.', response_format: 'pcm' }) });
    expect(speech.status).toBe(503);
    expect(speech.headers.get('retry-after')).toBe('1');
    expect(((await speech.json()) as { error: { code: string } }).error.code).toBe('at_capacity');
    await turnEnds(clients, 1, 60_000);
    const broken = clients.flatMap((c, i) => checkCall(c, SENTENCES, BYTES_PER_MS, (t) => textDurationMs(t.trim())).problems.map((p) => `call ${i}: ${p}`));
    expect(broken).toEqual([]);
    await Promise.all(clients.map((c) => c.close()));
  }, 80_000);
});

describe('no slot leaks, repeated 1,000 times', () => {
  for (const engine of ['uws', 'ws'] as const) {
    it(`${engine}: a 3-sentence speech request whose first sentence fails on a 1-stream instance, and text+flush+cancel bursts on the fleet and on the fallback`, async () => {
      // (a) Speech requests whose first sentence fails (500) with no other provider: the route
      // answers 503 and cancels the rest, whose lookahead slot must come back.
      const r = await startRig({ count: 1, maxConcurrency: 1, fallback: null, engine });
      const inst = r.fleet.instances[0]!;
      await inst.setFaults({ error_rate: 1, error_status: 500 });
      const body = JSON.stringify({ model: 'kokoro', voice: 'af_heart', input: 'One sentence here. Another one there. And a third.', response_format: 'pcm' });
      const post = () => fetch(`${r.base}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((res) => res.arrayBuffer().then(() => res.status));
      for (let batch = 0; batch < 1000; batch += 20) {
        const statuses = await Promise.all(Array.from({ length: 20 }, post));
        expect(statuses.every((status) => status === 503)).toBe(true);
      }
      await inst.setFaults({ error_rate: 0 });
      await expectAllSlotsFree(r);
      // The 500s ejected it (passive health); the half-open probe brings it back.
      await expect.poll(() => r.gateway.fleet.anyUp(), { timeout: 10_000, interval: 50 }).toBe(true);
      // (b) text, flush and cancel in one TCP write, on sessions pinned to the instance.
      await burst(r, 'fleet', 500);
      await expectAllSlotsFree(r);
      await r.gateway.close();
      await r.fleet.close();

      // …and on sessions living on the fallback (every instance down).
      const f = await startRig({ count: 1, maxConcurrency: 1, fallback: 4, engine });
      await f.fleet.instances[0]!.stop();
      await expect.poll(() => f.gateway.fleet.anyUp(), { timeout: 5000, interval: 50 }).toBe(false);
      await burst(f, 'fallback', 500);
      await expectAllSlotsFree(f);
      expect(f.gateway.sessions.fallback!.inUse).toBe(0);
      await expect.poll(() => f.cartesia!.activeContexts(), { timeout: 2000, interval: 20 }).toBe(0);
      await f.fleet.instances[0]!.start();
      await expect.poll(() => f.gateway.fleet.anyUp(), { timeout: 5000, interval: 50 }).toBe(true);

      // A fresh request is served at once.
      await inst.start();
      await expect.poll(() => r.gateway.fleet.anyUp(), { timeout: 5000, interval: 50 }).toBe(true);
      const started = performance.now();
      const res = await fetch(`${f.base}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'kokoro', voice: 'af_heart', input: 'Fresh.', response_format: 'pcm' }) });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      expect(performance.now() - started).toBeLessThan(2000);
    }, 120_000);
  }
});

/** `count` bursts of text+flush+cancel, each in one TCP write, over 10 sockets. */
async function burst(r: Rig, prefix: string, count: number): Promise<void> {
  const perSocket = count / 10;
  await Promise.all(
    Array.from({ length: 10 }, async (_, s) => {
      const client = await StreamClient.started(`${r.url}?session_id=${prefix}-burst-${s}`, START);
      const socket = (client.ws as WebSocket & { _socket: Socket })._socket;
      for (let i = 0; i < perSocket; i++) {
        socket.cork();
        client.send({ type: 'text', text: 'A sentence that will be cancelled. ' });
        client.send({ type: 'flush' });
        client.send({ type: 'cancel' });
        socket.uncork();
        await client.waitCount('cancelled', i + 1, 5000);
      }
      await client.close();
    }),
  );
}
