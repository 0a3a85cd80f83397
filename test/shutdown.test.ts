/**
 * Graceful drain of the real process (src/main.ts): SIGTERM → /ready 503 at once, new calls
 * refused, a call mid-turn finishes its turn, then its socket closes with 1001 and the process
 * exits 0 — and a turn longer than server.drain_timeout_ms is cut at the deadline. The simulator
 * runs in this process; the gateway is a child process killed by its pid if anything is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { StreamClient } from './helpers/stream-client.ts';
import { freePort } from './helpers/ports.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SENTENCES = 'The order shipped yesterday from the warehouse. It should arrive on Thursday. Anything else I can do?';

/** Status and body over a fresh connection (no keep-alive pool), as a load balancer's probe sees it. */
function probe(url: string): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
  });
}

interface Gw {
  child: ChildProcess;
  base: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stderr: () => string;
}

describe('graceful shutdown of the gateway process', () => {
  let sim: SimFleet;
  let dir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    // Real-time-ish synthesis: a sentence takes about a second to produce.
    sim = await startSimFleet({ count: 1, controlPort: null, latency: { first_audio_ms: 100, rtf: 0.5, chunk_ms: 100, comfortable: 10, max: 10 } });
    dir = mkdtempSync(join(tmpdir(), 'voicegate-shutdown-'));
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function startGateway(name: string, drainMs: number): Promise<Gw> {
    const configPath = join(dir, `${name}.yaml`);
    writeFileSync(
      configPath,
      stringify({
        server: { host: '127.0.0.1', port: 8080, engine: 'auto', drain_timeout_ms: drainMs },
        pools: [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], instances: [{ id: 'gpu-1', url: sim.instances[0]!.url, max_concurrency: 8 }], timeouts: { first_audio_ms: 3000, stall_ms: 3000 } }],
      }),
    );
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, VOICEGATE_CONFIG: configPath, PORT: String(port), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
    );
    const base = `127.0.0.1:${port}`;
    const deadline = performance.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`gateway exited early (${child.exitCode}): ${stderr}`);
      const ok = await fetch(`http://${base}/health`).then((r) => r.ok, () => false);
      if (ok) break;
      if (performance.now() > deadline) throw new Error(`gateway did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { child, base, exited, stderr: () => stderr };
  }

  async function call(base: string, key: string): Promise<StreamClient> {
    const client = await StreamClient.connect(`ws://${base}/v1/stream?session_id=${key}`);
    client.send({ type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: 16000 } });
    await client.waitType('ready');
    return client;
  }

  it('SIGTERM: /ready 503 and new calls refused at once; the live turn completes, then 1001 and exit 0', async () => {
    const gw = await startGateway('drain', 10_000);
    expect((await probe(`http://${gw.base}/ready`))?.status).toBe(200);
    const client = await call(gw.base, 'live-call');
    client.send({ type: 'text', text: SENTENCES });
    client.send({ type: 'flush' });
    await client.waitType('segment', 5000); // mid-turn: audio is flowing

    const termAt = performance.now();
    process.kill(gw.child.pid!, 'SIGTERM');
    await expect.poll(async () => (await probe(`http://${gw.base}/ready`))?.status, { timeout: 1000, interval: 20 }).toBe(503);
    expect(performance.now() - termAt).toBeLessThan(1000);
    expect((await probe(`http://${gw.base}/ready`))?.body).toMatch(/shutting down/);
    expect((await probe(`http://${gw.base}/health`))?.status).toBe(200); // alive: liveness must not restart it
    await expect(StreamClient.connect(`ws://${gw.base}/v1/stream?session_id=late-call`)).rejects.toThrow(/503/);
    expect(client.ofType('turn_end')).toHaveLength(0); // the refusals came while the turn was still playing

    await client.waitType('turn_end', 10_000);
    const segments = client.ofType('segment').length;
    expect(segments).toBe(3);
    expect(client.ofType('segment_end')).toHaveLength(segments);
    await expect.poll(() => client.closeCode, { timeout: 3000 }).toBe(1001);
    const exit = await gw.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - termAt).toBeLessThan(10_000);
  }, 40_000);

  it('a turn longer than drain_timeout_ms is cut at the deadline with 1001', async () => {
    const gw = await startGateway('deadline', 1200);
    const client = await call(gw.base, 'long-call');
    client.send({ type: 'text', text: `${SENTENCES} ${SENTENCES} ${SENTENCES}` });
    client.send({ type: 'flush' });
    await client.waitType('segment', 5000);
    const termAt = performance.now();
    process.kill(gw.child.pid!, 'SIGTERM');
    await expect.poll(() => client.closeCode, { timeout: 5000, interval: 20 }).toBe(1001);
    const closedAfter = performance.now() - termAt;
    expect(closedAfter).toBeGreaterThanOrEqual(1100);
    expect(closedAfter).toBeLessThan(1200 + 1500);
    expect(client.ofType('turn_end')).toHaveLength(0);
    expect(await gw.exited).toMatchObject({ code: 0 });
  }, 40_000);
});
