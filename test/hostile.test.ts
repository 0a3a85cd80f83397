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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { logCapture } from './helpers/log.ts';
import { freePort } from './helpers/ports.ts';
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
            // Segments wait on their own pin (no spill to the other worker for 10 s): an honest
            // call pinned beside the attacker gets that worker only if the wait queue ranks a
            // caller who hears nothing before one minutes of audio ahead (it lost segments to
            // max_wait_ms when a speaking turn always went first). The default config's 250 ms
            // is measured in bench/hostile-clients.ts.
            queue_ms: 10_000,
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

// ---- the real process: `npm start` and signals, cold starts -----------------------------------

const ROOT = new URL('..', import.meta.url).pathname;

interface Started {
  readonly child: ChildProcess;
  /** The gateway's node process (npm's child under `npm start`; the child itself otherwise). */
  readonly nodePid: number;
  readonly base: string;
  readonly stdout: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** When /ready first answered 200, and every status seen before the caller stops polling. */
  readonly readyStatuses: number[];
}

/** Pids of the processes in a process group (empty when none is left). */
function groupMembers(pgid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '-g', String(pgid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when nothing matches
  }
}

function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

const spawnedGroups: number[] = [];

afterAll(() => {
  // Anything a failed test left behind: only the groups this file created, by their pgid.
  for (const pgid of spawnedGroups) {
    if (groupMembers(pgid).length > 0) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

async function startProcess(dir: string, name: string, config: Record<string, unknown>, via: 'npm' | 'node'): Promise<Started> {
  const configPath = join(dir, `${name}.yaml`);
  writeFileSync(configPath, stringify(config));
  const port = await freePort();
  const env = { ...process.env, VOICEGATE_CONFIG: configPath, PORT: String(port), LOG_LEVEL: 'info' };
  // Its own process group (detached), so a group signal reaches exactly what was started here.
  const child =
    via === 'npm'
      ? spawn('npm', ['start', '--silent'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  spawnedGroups.push(child.pid!);
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += String(d)));
  child.stderr!.on('data', (d) => (stdout += String(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const base = `127.0.0.1:${port}`;
  const readyStatuses: number[] = [];
  const deadline = performance.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited early (${child.exitCode}): ${stdout}`);
    const status = await fetch(`http://${base}/ready`).then((r) => r.status, () => 0);
    if (status !== 0) readyStatuses.push(status);
    if (status === 200) break;
    if (performance.now() > deadline) throw new Error(`gateway not ready: ${stdout}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const nodePid = via === 'npm' ? childPids(child.pid!)[0]! : child.pid!;
  return { child, nodePid, base, stdout: () => stdout, exited, readyStatuses };
}

const count = (text: string, needle: RegExp) => text.split('\n').filter((l) => needle.test(l)).length;

describe('hostile: `npm start` stops on one signal with one drain, and never outlives npm', () => {
  let sim: SimFleet;
  let dir: string;

  beforeAll(async () => {
    // A sentence takes about a second: a turn is still playing when the signal comes.
    sim = await startSimFleet({ count: 1, controlPort: null, latency: { first_audio_ms: 100, rtf: 0.5, chunk_ms: 100, comfortable: 10, max: 10 } });
    dir = mkdtempSync(join(tmpdir(), 'voicegate-hostile-'));
  });

  afterAll(async () => {
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const config = () => ({
    server: { host: '127.0.0.1', port: 8080, drain_timeout_ms: 10_000 },
    pools: [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], instances: [{ id: 'gpu-1', url: sim.instances[0]!.url, max_concurrency: 8 }], timeouts: { first_audio_ms: 3000, stall_ms: 3000 } }],
  });

  async function liveTurn(base: string): Promise<StreamClient> {
    const client = await StreamClient.started(`ws://${base}/v1/stream?session_id=live`, { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: 16000 } });
    client.send({ type: 'text', text: 'The order shipped yesterday. It should arrive on Thursday. Anything else?' });
    client.send({ type: 'flush' });
    await client.waitType('segment', 5000);
    return client;
  }

  async function expectOneDrainAndNothingLeft(gw: Started, client: StreamClient): Promise<void> {
    await client.waitType('turn_end', 15_000); // the drain let the live turn finish
    expect(client.ofType('segment_end')).toHaveLength(3);
    await expect.poll(() => client.closeCode, { timeout: 5000 }).toBe(1001);
    const exit = await gw.exited;
    expect(exit.code === 0 || exit.signal !== null).toBe(true);
    await expect.poll(() => groupMembers(gw.child.pid!), { timeout: 5000 }).toEqual([]);
    expect(count(gw.stdout(), /"msg":"shutting down"/)).toBe(1);
    expect(count(gw.stdout(), /"msg":"draining/)).toBe(1);
    expect(gw.stdout()).not.toMatch(/second signal/);
  }

  it('SIGTERM to npm: the gateway drains and exits; no orphan', async () => {
    const gw = await startProcess(dir, 'term-npm', config(), 'npm');
    expect(gw.nodePid).not.toBe(gw.child.pid);
    const client = await liveTurn(gw.base);
    process.kill(gw.child.pid!, 'SIGTERM');
    await expectOneDrainAndNothingLeft(gw, client);
  }, 60_000);

  it('SIGINT to the whole group (Ctrl-C): it reaches npm and node, and node drains once', async () => {
    const gw = await startProcess(dir, 'int-group', config(), 'npm');
    const client = await liveTurn(gw.base);
    process.kill(-gw.child.pid!, 'SIGINT');
    await expectOneDrainAndNothingLeft(gw, client);
  }, 60_000);

  it('SIGTERM to the node process itself: it drains, and npm ends with it', async () => {
    const gw = await startProcess(dir, 'term-node', config(), 'npm');
    const client = await liveTurn(gw.base);
    process.kill(gw.nodePid, 'SIGTERM');
    await expectOneDrainAndNothingLeft(gw, client);
  }, 60_000);

  it('npm killed outright (SIGKILL): the gateway notices, drains and exits by itself', async () => {
    const gw = await startProcess(dir, 'kill-npm', config(), 'npm');
    const client = await liveTurn(gw.base);
    process.kill(gw.child.pid!, 'SIGKILL');
    await client.waitType('turn_end', 15_000);
    await expect.poll(() => client.closeCode, { timeout: 5000 }).toBe(1001);
    await expect.poll(() => groupMembers(gw.child.pid!), { timeout: 5000 }).toEqual([]);
    expect(count(gw.stdout(), /"msg":"shutting down"/)).toBe(1);
    expect(gw.stdout()).toMatch(/parent process exited/);
  }, 60_000);
});

describe('hostile: cold starts of the default config', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'voicegate-cold-'));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Time from the text to the first audio of a one-turn call. From the text, not the flush:
   * with eager_first the first clause is on its way before the flush.
   */
  async function firstAudioMs(base: string, i: number): Promise<number> {
    const client = await StreamClient.started(`ws://${base}/v1/stream?session_id=cold-${i}`);
    const sentAt = performance.now();
    client.send({ type: 'text', text: 'Thank you for calling, how can I help you today?' });
    client.send({ type: 'flush' });
    await client.waitType('audio', 10_000);
    const ms = client.times[client.events.findIndex((e) => e.type === 'audio')]! - sentAt;
    await client.waitType('turn_end', 10_000);
    await client.close();
    return ms;
  }

  it('5 cold starts: /ready never flips back once 200, and the first call is about as fast as the tenth', async () => {
    const defaults = parseYaml(readFileSync(join(ROOT, 'config/default.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const firsts: number[] = [];
    const steady: number[] = [];
    for (let run = 0; run < 5; run++) {
      const gw = await startProcess(dir, `cold-${run}`, { ...defaults, server: { ...defaults.server, host: '127.0.0.1' } }, 'node');
      // Before 200 only 503 (warming up); then 200, and it stays 200 through the first health
      // checks (interval 1 s, fall 2: a flap would show within 2.5 s).
      expect(gw.readyStatuses.at(-1)).toBe(200);
      expect(gw.readyStatuses.slice(0, -1).every((s) => s === 503)).toBe(true);
      const until = performance.now() + 2500;
      while (performance.now() < until) {
        expect((await fetch(`http://${gw.base}/ready`)).status).toBe(200);
        await new Promise((r) => setTimeout(r, 50));
      }
      const times: number[] = [];
      for (let i = 0; i < 10; i++) times.push(await firstAudioMs(gw.base, i));
      firsts.push(times[0]!);
      // "The tenth call": the median of calls 6 to 10, one figure per start that a single
      // scheduling hiccup on this shared machine does not decide.
      steady.push(median(times.slice(5)));
      process.kill(gw.child.pid!, 'SIGTERM');
      await gw.exited;
    }
    // Before the warm-up (worker and session path) the first call took ~0.9 s against ~80 ms
    // (issue 18), 170-610 ms against 20-150 ms here. The 100 ms is this shared 2-core machine's
    // noise (steady figures alone swing 2-5× between runs); a cold first call is far beyond it.
    console.log(`cold starts: first call ${firsts.map(Math.round).join(', ')} ms; steady (median of calls 6-10) ${steady.map(Math.round).join(', ')} ms`);
    expect(median(firsts)).toBeLessThanOrEqual(median(steady) * 1.2 + 100);
  }, 180_000);
});
