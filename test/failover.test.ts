/**
 * Chaos tests for failover (issue: no call goes silent, no sentence is lost), on the fleet
 * simulator and the fake Cartesia, loopback only, bounded in time.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { textDurationMs } from '../src/sim/audio.ts';
import { startFakeCartesia, type FakeCartesia } from '../src/sim/cartesia.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { checkCall } from './helpers/call-check.ts';
import { StreamClient } from './helpers/stream-client.ts';

const SENTENCES = [
  'Thanks for calling the support line today.',
  'I can see your order in our system now.',
  'It shipped yesterday from the main warehouse.',
  'You should receive it by Thursday at the latest.',
  'Is there anything else I can help you with?',
];
const RATE = 16000;
const BYTES_PER_MS = (RATE * 2) / 1000;

describe('failover chaos', () => {
  let fleet: SimFleet;
  let cartesia: FakeCartesia;
  let gateway: Gateway;
  let url: string;

  beforeAll(async () => {
    fleet = await startSimFleet({
      count: 3,
      protocol: 'openai',
      controlPort: null,
      latency: { first_audio_ms: 150, rtf: 0.2, comfortable: 60, max: 60, chunk_ms: 100 },
    });
    cartesia = await startFakeCartesia({ ttfaMs: 150, msPerChar: 70, rtf: 0.2 });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0 },
      pools: [
        {
          name: 'kokoro',
          backend: 'openai',
          model: 'kokoro',
          voices: ['af_heart'],
          instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 40 })),
          health: { interval_ms: 100, timeout_ms: 300, fall: 2, rise: 2, eject_after: 3, eject_base_ms: 500, eject_max_ms: 2000 },
          timeouts: { connect_ms: 300, first_audio_ms: 500, stall_ms: 500 },
        },
      ],
      fallback: { backend: 'cartesia', url: cartesia.url, api_key: 'test', max_concurrency: 200, voice_map: { default: 'cartesia-voice-1' }, timeouts: { first_audio_ms: 1500, stall_ms: 1500 } },
    });
    gateway = await createGateway({ config });
    const port = await gateway.listen();
    url = `ws://127.0.0.1:${port}/v1/stream`;
  });

  afterEach(async () => {
    for (const instance of fleet.instances) {
      await instance.start();
      await instance.setFaults({ error_rate: 0, hang: false, die_mid_stream: false, stall_ms: 0 });
    }
    cartesia.setFaults({ error_rate: 0, hang: false, die_mid_stream: false, stall_ms: 0, down: false });
  });

  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
    await cartesia?.close();
  });

  function startCall(key: string): Promise<StreamClient> {
    return StreamClient.started(`${url}?session_id=${key}`, { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: RATE } });
  }

  async function speak(client: StreamClient): Promise<void> {
    // LLM-like: a few tokens at a time.
    const text = SENTENCES.join(' ');
    for (let i = 0; i < text.length; i += 12) {
      client.send({ type: 'text', text: text.slice(i, i + 12) });
      if (i % 48 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    client.send({ type: 'flush' });
  }

  it('50 calls survive a killed, a hung and an erroring instance: every segment once, in order', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, (_, i) => startCall(`chaos-${i}`)));
    const pins = new Set(clients.map((c) => (c.events[0] as Record<string, unknown>).instance));
    expect(pins.size).toBe(3);
    await Promise.all(clients.map((c) => speak(c)));

    // Faults land while audio is flowing.
    await new Promise((r) => setTimeout(r, 300));
    const [killed, hung, erroring] = fleet.instances;
    const faultsAt = performance.now();
    await Promise.all([killed!.stop(), hung!.setFaults({ hang: true }), erroring!.setFaults({ error_rate: 1, error_status: 500 })]);
    setTimeout(() => void erroring!.setFaults({ error_rate: 0 }), 1500);

    await Promise.all(clients.map((c) => c.waitType('turn_end', 25_000)));
    const reports = clients.map((c) => checkCall(c, SENTENCES, BYTES_PER_MS, (t) => textDurationMs(t)));
    const broken = reports.map((r, i) => (r.problems.length ? `call ${i}: ${r.problems.join('; ')}` : '')).filter(Boolean);
    expect(broken).toEqual([]);

    // Each fault was met by real traffic and routed around: segments left every faulty
    // instance, the hung one's by first_audio_ms (reason timeout).
    const allFailovers = reports.flatMap((r) => r.failovers);
    const from = (id: string) => allFailovers.filter((f) => f.from === id);
    expect(from(killed!.id).length, 'failovers from the killed instance').toBeGreaterThan(0);
    expect(from(hung!.id).filter((f) => f.reason === 'timeout').length, 'timeouts on the hung instance').toBeGreaterThan(0);
    expect(from(erroring!.id).length, 'failovers from the erroring instance').toBeGreaterThan(0);
    // Nothing was finished by the killed instance after it died: a segment it was streaming was
    // replayed elsewhere (the exactly-once check above counts the audio after the replay).
    const finishedByKilledLate = clients.flatMap((c, i) =>
      c.events.flatMap((e, at) => (e.type === 'segment_end' && reports[i]!.providers[(e as Record<string, unknown>).index as number] === killed!.id && c.times[at]! > faultsAt ? [`call ${i} segment ${(e as Record<string, unknown>).index}`] : [])),
    );
    expect(finishedByKilledLate).toEqual([]);
    // The fallback took part, and the metric names the instance a segment left.
    expect(new Set(reports.flatMap((r) => r.providers)).has('cartesia')).toBe(true);
    const metrics = await gateway.metrics.render();
    expect(metrics).toMatch(new RegExp(`voicegate_failovers_total\\{from="${killed!.id}",to="[^"]+",reason="[a-z_0-9]+"\\} \\d+`));
    await Promise.all(clients.map((c) => c.close()));
  }, 40_000);

  it('a hang is detected at first_audio_ms (not before; at most 250 ms after on a loaded machine) and the segment moves on', async () => {
    for (const instance of fleet.instances) await instance.setFaults({ hang: true });
    const client = await startCall('hang-probe');
    const sentAt = performance.now();
    client.send({ type: 'text', text: 'Just one sentence here.' });
    client.send({ type: 'flush' });
    const failover = (await client.waitType('failover', 5000)) as Record<string, unknown>;
    const detectedMs = performance.now() - sentAt;
    expect(failover.reason).toBe('timeout');
    expect(detectedMs).toBeGreaterThanOrEqual(500);
    expect(detectedMs).toBeLessThan(500 + 250); // the timer fires at 500 ms; the rest is slack for a loaded 2-core machine
    await client.waitType('turn_end', 5000);
    await client.close();
  });

  it('every instance down: calls carry on over Cartesia; instances back: new sessions return to the fleet', async () => {
    await Promise.all(fleet.instances.map((i) => i.stop()));
    await expect.poll(() => gateway.fleet.anyUp(), { timeout: 3000, interval: 50 }).toBe(false);

    const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => startCall(`down-${i}`)));
    for (const c of clients) expect((c.events[0] as Record<string, unknown>).instance).toBe('cartesia');
    await Promise.all(clients.map((c) => speak(c)));
    await Promise.all(clients.map((c) => c.waitType('turn_end', 15_000)));
    for (const c of clients) {
      const report = checkCall(c, SENTENCES, BYTES_PER_MS, (t) => t.trim().length * 70);
      expect(report.problems).toEqual([]);
      expect(new Set(report.providers)).toEqual(new Set(['cartesia']));
    }
    const ready = await fetch(url.replace('ws://', 'http://').replace('/v1/stream', '/ready'));
    expect(ready.status).toBe(200); // a fallback keeps the gateway ready
    await Promise.all(clients.map((c) => c.close()));

    await Promise.all(fleet.instances.map((i) => i.start()));
    // Back when active checks pass and, for instances ejected by traffic, the half-open probe
    // synthesizes (the ejection doubled while they were down, capped at eject_max_ms).
    await expect.poll(() => gateway.fleet.routers[0]!.instances.every((i) => i.healthy), { timeout: 8000, interval: 50 }).toBe(true);
    const back = await startCall('back-1');
    expect(fleet.instances.map((i) => i.id)).toContain((back.events[0] as Record<string, unknown>).instance);
    await back.close();
  }, 30_000);

  it('barge-in during failover: cancel wins, nothing of the cancelled turn plays', async () => {
    for (const instance of fleet.instances) await instance.setFaults({ hang: true });
    cartesia.setFaults({ stall_ms: 5000 });
    const client = await startCall('barge-1');
    client.send({ type: 'text', text: SENTENCES.join(' ') });
    client.send({ type: 'flush' });
    // The first failover (hang detected) is under way toward Cartesia, which stalls mid-stream.
    await client.waitType('failover', 5000);
    client.send({ type: 'cancel' });
    await client.waitType('cancelled');
    const at = client.events.findIndex((e) => e.type === 'cancelled');
    await new Promise((r) => setTimeout(r, 1200));
    const after = client.events.slice(at + 1);
    expect(after.filter((e) => ['audio', 'segment', 'segment_end', 'turn_end', 'failover'].includes(e.type))).toEqual([]);
    // The GPU and Cartesia slots were really freed.
    await expect.poll(() => fleet.instances.reduce((n, i) => n + i.activeStreams(), 0), { timeout: 1000 }).toBe(0);
    await expect.poll(() => cartesia.activeContexts(), { timeout: 1000 }).toBe(0);
    await client.close();
  });
});
