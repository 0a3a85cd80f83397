/**
 * Issue 18, replayed as an attacker would, loopback only and bounded: each finding of the
 * adversarial run becomes a scenario that asserts its bound. The parts that live in the session
 * core (per-session memory bounds, drain turn-liveness) and the segmenter's hard segment cap are
 * tested beside their code; what is here stands without them:
 * - huge tokens on the embedded engine: the worker is freed at the deadline (terminated and
 *   replaced), probes never queue behind it, no instance goes down, honest calls lose nothing;
 * - admin: an unauthenticated drain from another host address is refused, from loopback it is
 *   allowed and logged (both engines; "another host" is this machine's own non-loopback address);
 * - slowloris: request heads and bodies that never finish are closed by the timeouts;
 * - WebSockets that never send `start` are closed and count toward server.max_sessions;
 * - protocol edges: an over-long session_id is refused, not replaced.
 */
import { networkInterfaces } from 'node:os';
import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { logCapture } from './helpers/log.ts';
import { refusedUpgrade, StreamClient } from './helpers/stream-client.ts';

const ENGINES = ['uws', 'ws'] as const;

/** This machine's own non-loopback IPv4 address: a real "other host" as the gateway sees it. */
function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  }
  throw new Error('this test needs a non-loopback IPv4 address on this machine (e.g. eth0) to connect from');
}

const DIGITS = (n: number) => Array.from({ length: n }, (_, i) => String((i * 7 + 3) % 10)).join('');

describe('hostile: one long token does not take the embedded engine down', () => {
  let gateway: Gateway;
  let url: string;
  const downs: string[] = [];

  beforeAll(async () => {
    // The default config's pool (config/default.yaml), on loopback.
    gateway = await createGateway({
      config: parseConfig({
        server: { host: '127.0.0.1', port: 0 },
        pools: [
          {
            name: 'embedded',
            backend: 'espeak',
            model: 'espeak',
            voices: ['en-us'],
            instances: [
              { id: 'espeak-1', max_concurrency: 1 },
              { id: 'espeak-2', max_concurrency: 1 },
            ],
            timeouts: { first_audio_ms: 3000, stall_ms: 3000 },
          },
        ],
      }),
    });
    gateway.fleet.on('instance', (event) => {
      if (event.type === 'down' || event.type === 'ejected') downs.push(`${event.instance}:${event.type}`);
    });
    url = `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
  });

  afterAll(async () => {
    await gateway?.close();
  });

  /** One honest call: `turns` turns of two sentences, each spoken whole. */
  async function honestCall(name: string, turns: number): Promise<{ segments: number; errors: unknown[]; slowestTurnMs: number }> {
    const client = await StreamClient.started(`${url}?session_id=${name}`);
    let slowest = 0;
    for (let t = 0; t < turns; t++) {
      const before = client.ofType('turn_end').length;
      const started = performance.now();
      client.send({ type: 'text', text: `This is ${name}, turn ${t + 1}. Everything is on schedule.` });
      client.send({ type: 'flush' });
      await client.waitFor((e) => e.type === 'turn_end' && client.ofType('turn_end').length > before, 30_000);
      slowest = Math.max(slowest, performance.now() - started);
    }
    const segments = client.ofType('segment_end').length;
    const errors = client.ofType('error');
    await client.close();
    return { segments, errors, slowestTurnMs: slowest };
  }

  it('two turns of 99,000 digits while 4 honest calls run: the honest calls lose nothing, no instance goes down, the workers are freed', async () => {
    // Unloaded reference first.
    const unloaded = await honestCall('reference', 2);
    expect(unloaded.segments).toBe(4);

    const attacker = await StreamClient.started(`${url}?session_id=attacker`);
    const token = DIGITS(99_000);
    const sendHuge = () => {
      // A text frame is at most 64 KiB (session.max_message_bytes): the token comes in halves.
      attacker.send({ type: 'text', text: token.slice(0, 49_500) });
      attacker.send({ type: 'text', text: token.slice(49_500) });
      attacker.send({ type: 'flush' });
    };
    sendHuge();
    sendHuge();
    await new Promise((r) => setTimeout(r, 200)); // the huge segment is on a worker now

    const probeStarted = performance.now();
    const probes = await Promise.all(gateway.fleet.snapshot().map((s) => gateway.fleet.instance(s.id)!.backend.check(AbortSignal.timeout(5000)).then(() => performance.now() - probeStarted)));
    // A probe queued behind a 99,000-digit synthesis would wait seconds.
    for (const ms of probes) expect(ms).toBeLessThan(800);

    const honest = await Promise.all([1, 2, 3, 4].map((i) => honestCall(`honest-${i}`, 3)));
    for (const call of honest) {
      expect(call.errors).toEqual([]);
      expect(call.segments).toBe(6);
    }
    await attacker.close();
    expect(downs).toEqual([]);
    // Both slots are free again and the workers answer at once.
    await expect.poll(() => gateway.fleet.snapshot().every((s) => s.streams === 0 && s.healthy), { timeout: 15_000 }).toBe(true);
    const after = await honestCall('after', 2);
    expect(after.segments).toBe(4);
    expect(after.errors).toEqual([]);
  }, 120_000);
});

describe.each(ENGINES)('hostile on %s: admin, slowloris, sockets without start, protocol edges', (engine) => {
  let sim: SimFleet;
  let gateway: Gateway;
  let port: number;
  const capture = logCapture('info');

  beforeAll(async () => {
    sim = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.05, chunk_ms: 100 } });
    // The default config's auth (no keys at all), listening on every address as the default does.
    gateway = await createGateway({
      logger: capture.logger,
      config: parseConfig({
        server: { host: '0.0.0.0', port: 0, engine, max_sessions: 3, request_head_timeout_ms: 1000, request_body_timeout_ms: 1000 },
        session: { start_timeout_ms: 800 },
        pools: [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], instances: [{ id: 'gpu-1', url: sim.instances[0]!.url, max_concurrency: 8 }] }],
      }),
    });
    port = await gateway.listen();
  });

  afterAll(async () => {
    await gateway?.close();
    await sim?.close();
  });

  it('says at start that admin answers loopback only', () => {
    expect(capture.records().some((r) => r.admin === 'loopback' && /answers requests from this machine only/.test(String(r.msg)))).toBe(true);
  });

  it('an unauthenticated drain from another host address is refused; from loopback it is allowed and logged', async () => {
    const other = externalAddress();
    const remote = await fetch(`http://${other}:${port}/admin/instances/gpu-1/drain`, { method: 'POST' });
    expect(remote.status).toBe(403);
    expect(((await remote.json()) as { error: { code: string } }).error.code).toBe('admin_local_only');
    expect(gateway.fleet.instance('gpu-1')!.draining).toBe(false);
    expect((await fetch(`http://${other}:${port}/admin/instances`)).status).toBe(403);
    expect((await fetch(`http://${other}:${port}/ready`)).status).toBe(200);

    // Through a proxy on this host (loopback socket, forwarding header): refused too.
    const proxied = await fetch(`http://127.0.0.1:${port}/admin/instances/gpu-1/drain`, { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(proxied.status).toBe(403);

    const local = await fetch(`http://127.0.0.1:${port}/admin/instances/gpu-1/drain`, { method: 'POST' });
    expect(local.status).toBe(200);
    expect(gateway.fleet.instance('gpu-1')!.draining).toBe(true);
    const logged = capture.records().find((r) => r.msg === 'admin: drain gpu-1');
    expect(logged).toMatchObject({ action: 'drain', instance: 'gpu-1', auth: 'loopback' });
    expect(String(logged!.remote)).toMatch(/127\.0\.0\.1/);
    expect((await fetch(`http://127.0.0.1:${port}/admin/instances/gpu-1/undrain`, { method: 'POST' })).status).toBe(200);
    expect(gateway.fleet.instance('gpu-1')!.draining).toBe(false);
    // /metrics stays readable (protect_metrics is off).
    expect((await fetch(`http://${other}:${port}/metrics`)).status).toBe(200);
  });

  it('closes a speech request whose body never finishes, and one whose head never finishes', async () => {
    const timed = (script: string) =>
      new Promise<{ ms: number; answer: string }>((resolve) => {
        const started = performance.now();
        let answer = '';
        const socket = netConnect(port, '127.0.0.1', () => socket.write(script));
        socket.on('data', (d) => (answer += String(d)));
        socket.on('error', () => {});
        const giveUp = setTimeout(() => socket.destroy(), 20_000);
        socket.on('close', () => {
          clearTimeout(giveUp);
          resolve({ ms: performance.now() - started, answer });
        });
      });
    const [body, head] = await Promise.all([
      timed('POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"model":'),
      timed('POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\n'),
    ]);
    expect(body.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(body.ms).toBeLessThan(1000 + 3000);
    // ws: request_head_timeout_ms (checked once a second); uws: uWebSockets.js's fixed 10 s.
    expect(head.ms).toBeLessThan((engine === 'uws' ? 10_000 : 2000) + 3000);
  }, 30_000);

  it('sockets that never send start count toward max_sessions and are closed after start_timeout_ms', async () => {
    const url = `ws://127.0.0.1:${port}/v1/stream`;
    const idle = await Promise.all([1, 2, 3].map(() => StreamClient.connect(url)));
    const refused = await refusedUpgrade(url);
    expect(refused).toMatchObject({ status: 503, body: { code: 'at_capacity' } });
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(503);
    for (const client of idle) {
      await expect.poll(() => client.closeCode, { timeout: 5000 }).toBe(1008);
      expect(client.ofType('error')).toEqual([expect.objectContaining({ code: 'start_timeout', fatal: true })]);
    }
    // Their places are free again: a real call starts and speaks.
    const call = await StreamClient.started(url);
    call.send({ type: 'text', text: 'Hello again.' });
    call.send({ type: 'flush' });
    await call.waitType('turn_end');
    await call.close();
    await expect.poll(async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
  });

  it('refuses an over-long session_id instead of replacing it', async () => {
    const refused = await refusedUpgrade(`ws://127.0.0.1:${port}/v1/stream?session_id=${'x'.repeat(201)}`);
    expect(refused).toMatchObject({ status: 400, body: { type: 'error', code: 'invalid_session_id', fatal: true } });
    const ok = await StreamClient.started(`ws://127.0.0.1:${port}/v1/stream?session_id=${'y'.repeat(200)}`);
    expect(ok.ofType('ready')[0]).toMatchObject({ session_id: 'y'.repeat(200) });
    await ok.close();
  });
});
