/**
 * `npm start` with `server.workers` > 1, as a child process (src/main.ts → src/cluster/workers.ts):
 * started on a free port from a config object, ready once every worker listens, its JSON log
 * lines readable, killed by pid (the primary and every worker it started).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface LogLine {
  msg?: string;
  pid?: number;
  worker?: number;
  session_id?: string;
  instance?: string;
}

export interface WorkersGateway {
  readonly child: ChildProcess;
  /** host:port */
  readonly base: string;
  /** The JSON log lines so far (primary and workers). */
  lines(): LogLine[];
  /** Pids of every worker started so far, in start order. */
  workerPids(): number[];
  /** Workers that logged that they listen. */
  listening(): number;
  /** SIGKILL to every worker and the primary (by pid), and the config removed. */
  kill(): void;
}

/**
 * Starts the gateway with `config` (server.port and host are set here) and waits until
 * `workers` workers listen and /health answers.
 */
export async function startWorkersGateway(config: Record<string, unknown> & { server: Record<string, unknown> }, workers: number): Promise<WorkersGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'voicegate-workers-'));
  const configPath = join(dir, 'config.yaml');
  // server.port is a fixed number for the schema; the PORT variable gives the free one.
  writeFileSync(configPath, stringify({ ...config, server: { host: '127.0.0.1', port: 8080, ...config.server, workers } }));
  const port = await freePort();
  const base = `127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, VOICEGATE_CONFIG: configPath, PORT: String(port), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, as a supervisor would start it
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += String(d)));
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const lines = (): LogLine[] =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  const workerPids = (): number[] => lines().filter((l) => l.msg === 'worker started').map((l) => l.worker!);
  const listening = (): number => new Set(lines().filter((l) => /listening/i.test(l.msg ?? '') && l.pid !== child.pid).map((l) => l.pid)).size;
  const kill = (): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      for (const pid of workerPids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      process.kill(child.pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Workers compiling TypeScript on a loaded 2-core machine: a generous bound.
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      kill();
      throw new Error(`gateway exited early (${child.exitCode}): ${stderr}`);
    }
    const ok = await fetch(`http://${base}/health`).then((r) => r.ok, () => false);
    if (ok && workerPids().length === workers && listening() === workers) break;
    if (performance.now() > deadline) {
      kill();
      throw new Error(`gateway did not start: ${stderr}\n${stdout}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, base, lines, workerPids, listening, kill };
}
