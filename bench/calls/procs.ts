/**
 * Child processes of the call benchmark (gateway, simulator): started with `node --import tsx`
 * over IPC, measured from /proc (CPU and RSS without asking the busy child), stopped by pid.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChildGcCounts, ChildMemory } from './child-ipc.ts';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const CLK_TCK = 100;

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** The child's ready message. */
  readonly info: Record<string, unknown>;
}

const live = new Set<Child>();

/** Forks `script` (a .ts file next to this one) with tsx; resolves on its `{type:'ready'}`. */
export function startChild(name: string, script: string, env: Record<string, string>, extraNodeArgs: string[] = []): Promise<Child> {
  const tsx = import.meta.resolve('tsx');
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    execArgv: ['--import', tsx, '--expose-gc', ...extraNodeArgs],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`${name} child exited (${code}) before it was ready`));
    child.once('exit', onExit);
    child.on('message', (msg: Record<string, unknown>) => {
      if (msg?.type !== 'ready') return;
      child.off('exit', onExit);
      const handle: Child = { name, pid: child.pid!, process: child, info: msg };
      live.add(handle);
      child.once('exit', () => live.delete(handle));
      resolve(handle);
    });
  });
}

/** Asks the child to collect garbage and report its memory. */
export function childGc(child: Child): Promise<ChildMemory | null> {
  return askChild<ChildMemory>(child, 'gc');
}

/** The child's garbage collections since the last ask (the first ask starts the count). */
export function childGcCounts(child: Child): Promise<ChildGcCounts | null> {
  return askChild<ChildGcCounts>(child, 'gc-counts');
}

/** Sends `{type}` and resolves the value of the child's `{type: '<type>-done', value}`, or null. */
function askChild<T>(child: Child, type: string, timeoutMs = 10_000): Promise<T | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(null), timeoutMs);
    const onMessage = (msg: { type?: string; value?: T }): void => {
      if (msg?.type === `${type}-done`) done(msg.value ?? null);
    };
    const done = (value: T | null): void => {
      clearTimeout(timer);
      child.process.off('message', onMessage);
      resolve(value);
    };
    child.process.on('message', onMessage);
    child.process.send({ type });
  });
}

/** CPU seconds (user + system) the process has used, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * Seconds the process's main thread spent runnable but waiting for a CPU (field 2 of
 * /proc/<pid>/task/<pid>/schedstat): the delay the machine, not the process, added.
 */
export function runQueueWaitSeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return Number.NaN;
  }
}

/** Restricts every thread of `pid` (and threads it starts later) to the CPUs listed, e.g. "1". */
export function pinToCpus(pid: number, cpuList: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

/** Resident set size in bytes, from VmRSS in /proc/<pid>/status. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** Asks the child to exit cleanly (profiles are written), then kills its pid if it lingers. */
export async function stopChild(child: Child, graceMs = 10_000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.process.once('exit', () => resolve()));
  try {
    child.process.send({ type: 'exit' });
  } catch {
    process.kill(child.pid, 'SIGTERM');
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  if (child.process.exitCode === null && child.process.signalCode === null) {
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}

/** Kills every child still alive, by pid (SIGINT of the benchmark, or a crash). */
export function killAllChildren(): void {
  for (const child of live) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}
