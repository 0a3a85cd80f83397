/**
 * server.workers: 2 as `npm start` runs it (src/main.ts → src/cluster/workers.ts): both workers
 * take calls on one port (their pids in the logs); one /metrics scrape answers for both (summed
 * counters, per-instance state not doubled, each worker's process metrics labelled); workers
 * without Redis share the instance's stream slots through the primary (concurrent calls on both
 * never put more than max_concurrency streams on the instance); a worker killed with SIGKILL is
 * replaced; one SIGTERM to the process group (primary and workers all get it, as from Ctrl-C or
 * a supervisor) drains every worker once: the live turn finishes, then 1001 and exit 0.
 * Both engines. Children run in a process group of their own and are killed by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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

describe.each(['ws', 'uws'] as const)('server.workers: 2 (engine %s)', (engine) => {
  let sim: SimFleet;
  let dir: string;
  let child: ChildProcess;
  let stdout = '';
  let stderr = '';
  let base = '';

  beforeAll(async () => {
    sim = await startSimFleet({ count: 1, controlPort: null, latency: { first_audio_ms: 50, rtf: 0.5, chunk_ms: 100, comfortable: 20, max: 20 } });
    dir = mkdtempSync(join(tmpdir(), 'voicegate-workers-'));
    const configPath = join(dir, 'workers.yaml');
    writeFileSync(
      configPath,
      stringify({
        server: { host: '127.0.0.1', port: 8080, engine, drain_timeout_ms: 10_000, workers: 2 },
        pools: [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], instances: [{ id: 'gpu-1', url: sim.instances[0]!.url, max_concurrency: 2 }], timeouts: { first_audio_ms: 3000, stall_ms: 3000 } }],
      }),
    );
    const port = await freePort();
    base = `127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, VOICEGATE_CONFIG: configPath, PORT: String(port), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so the test can signal the group as a terminal would
    });
    child.stdout!.on('data', (d) => (stdout += String(d)));
    child.stderr!.on('data', (d) => (stderr += String(d)));
    const deadline = performance.now() + 60_000; // two workers compiling TypeScript on a loaded 2-core machine
    // Both workers up: two 'worker started' lines and /health answering.
    for (;;) {
      if (child.exitCode !== null) throw new Error(`gateway exited early (${child.exitCode}): ${stderr}`);
      const ok = await fetch(`http://${base}/health`).then((r) => r.ok, () => false);
      if (ok && workerPids().length === 2 && listening() === 2) break;
      if (performance.now() > deadline) throw new Error(`gateway did not start: ${stderr}\n${stdout}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 90_000);

  afterAll(async () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      for (const pid of workerPids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      process.kill(child.pid, 'SIGKILL');
    }
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function lines(): { msg?: string; pid?: number; worker?: number }[] {
    return stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; pid?: number; worker?: number });
  }
  function workerPids(): number[] {
    return lines().filter((l) => l.msg === 'worker started').map((l) => l.worker!);
  }
  function listening(): number {
    return new Set(lines().filter((l) => /listening/i.test(l.msg ?? '') && l.pid !== child.pid).map((l) => l.pid)).size;
  }

  async function call(key: string): Promise<StreamClient> {
    const client = await StreamClient.connect(`ws://${base}/v1/stream?session_id=${key}`);
    client.send({ type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: 16000 } });
    await client.waitType('ready');
    return client;
  }

  it('both workers take calls and share slots, one /metrics answers for both, a crashed worker is replaced, one group SIGTERM drains both', async () => {
    const workers = workerPids();
    expect(workers).not.toContain(child.pid);

    // Calls on fresh connections until both workers have taken some (bounded).
    const CALLS = 24;
    for (let i = 0; i < CALLS; i++) {
      const client = await call(`call-${i}`);
      client.send({ type: 'text', text: 'Hello there.' });
      client.send({ type: 'flush' });
      await client.waitType('turn_end', 10_000);
      client.close();
    }
    await expect.poll(() => lines().filter((l) => l.msg === 'session start').length, { timeout: 5000 }).toBe(CALLS);
    const byPid = new Map<number, number>();
    for (const l of lines().filter((l) => l.msg === 'session start')) byPid.set(l.pid!, (byPid.get(l.pid!) ?? 0) + 1);
    expect([...byPid.keys()].sort()).toEqual([...workers].sort());

    // A session is counted when its worker sees the close: wait until every worker logged its ends.
    await expect.poll(() => lines().filter((l) => l.msg === 'session end').length, { timeout: 10_000 }).toBe(CALLS);
    // One scrape, whichever worker answers it, counts every worker's calls.
    for (let scrape = 0; scrape < 3; scrape++) {
      const text = await fetch(`http://${base}/metrics`).then((r) => r.text());
      const total = [...text.matchAll(/^voicegate_sessions_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      expect(total).toBe(CALLS);
      // Per-instance state every worker sees alike is not summed.
      expect(text).toMatch(/^voicegate_instance_capacity_configured\{pool="kokoro",instance="gpu-1"\} 2$/m);
      expect(text).toMatch(/^voicegate_instance_up\{pool="kokoro",instance="gpu-1"\} 1$/m);
      // Histograms aggregate bucket by bucket: the +Inf bucket counts every call's first audio.
      const inf = text.match(/^voicegate_ttfa_seconds_bucket\{le="\+Inf"\} (\d+)/m);
      expect(Number(inf?.[1])).toBeGreaterThanOrEqual(CALLS);
      // Each worker's own process metrics, labelled by its pid.
      for (const pid of workers) expect(text).toMatch(new RegExp(`^process_resident_memory_bytes\\{worker="${pid}"\\} \\d+`, 'm'));
    }

    // Concurrent calls spread over both workers share the instance's 2 slots through the
    // primary: the instance itself never sees more than 2 streams at once.
    sim.instances[0]!.resetPeak();
    const startsBefore = lines().filter((l) => l.msg === 'session start').length;
    const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => call(`burst-${i}`)));
    for (const client of burst) {
      client.send({ type: 'text', text: 'Hello there. How are you today?' });
      client.send({ type: 'flush' });
    }
    for (const client of burst) {
      await client.waitType('turn_end', 30_000);
      expect(client.ofType('segment')).toHaveLength(2);
      client.close();
    }
    const burstPids = new Set(lines().filter((l) => l.msg === 'session start').slice(startsBefore).map((l) => l.pid));
    expect(burstPids.size).toBe(2);
    expect(sim.instances[0]!.peakStreams()).toBe(2);

    // A worker that crashes is replaced: kill -9 one, a new one starts and listens.
    const [victim, survivor] = workers as [number, number];
    process.kill(victim, 'SIGKILL');
    await expect.poll(() => /worker died: starting another/.test(stdout), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => workerPids().length, { timeout: 60_000, interval: 200 }).toBe(3);
    const replacement = workerPids()[2]!;
    await expect.poll(() => listening(), { timeout: 60_000, interval: 200 }).toBe(3);
    const current = [survivor, replacement];

    // A live call mid-turn, then SIGTERM to the whole group (primary and both workers get it).
    const live = await call('live');
    live.send({ type: 'text', text: SENTENCES });
    live.send({ type: 'flush' });
    await live.waitType('segment', 5000);
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.once('exit', (code) => resolve({ code, at: performance.now() })));
    const termAt = performance.now();
    process.kill(-child.pid!, 'SIGTERM');
    await live.waitType('turn_end', 10_000);
    expect(live.ofType('segment')).toHaveLength(3);
    await expect.poll(() => live.closeCode, { timeout: 5000 }).toBe(1001);
    const exit = await exited;
    expect(exit.code).toBe(0);
    expect(exit.at - termAt).toBeLessThan(15_000);
    // Each worker drained once: the duplicate was recognised, not taken as "close now".
    expect(stdout).not.toMatch(/second signal/);
    for (const pid of current) {
      expect(lines().filter((l) => l.pid === pid && l.msg === 'shutting down')).toHaveLength(1);
      expect(() => process.kill(pid, 0)).toThrow(); // gone
    }
  }, 90_000);
});
