/**
 * Cold starts of the default config (issue 18, "Ready means ready"): each start is a fresh
 * `node src/main.ts` on config/default.yaml (loopback only, free port); once /ready says 200,
 * ten one-turn calls one after another, each timed from its text to its first audio frame. The
 * figure is the first call against the median of calls 6–10 ("the tenth", one figure a single
 * scheduling hiccup does not decide). /ready is polled from the start: a flip back to 503 after
 * the first 200 is counted.
 *
 *   npx tsx bench/cold-start.ts [--starts 10] [--calls 10] [--tree /path/to/other/checkout ...]
 *                               [--discard N] [--trace]
 *
 * --discard N makes N untimed calls first (what N warm-up calls would do at best); --trace prints
 * every call's time.
 *
 * With --tree (repeatable), the starts alternate between this tree and each other one, so a
 * before/after pair shares the machine's load. Every process is started here and ended by pid.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { parse as parseYaml, stringify } from 'yaml';
import { freePort } from '../test/helpers/ports.ts';

const { values } = parseArgs({
  options: {
    starts: { type: 'string', default: '10' },
    calls: { type: 'string', default: '10' },
    tree: { type: 'string', multiple: true, default: [] },
    discard: { type: 'string', default: '0' },
    trace: { type: 'boolean', default: false },
  },
});
const STARTS = Number(values.starts);
const CALLS = Number(values.calls);
const HERE = resolve(import.meta.dirname, '..');
const TREES = [HERE, ...values.tree.map((t) => resolve(t))];

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One call: start, one sentence, flush; ms from the text to the first audio frame. */
function oneCall(base: string, i: number): Promise<number> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`ws://${base}/v1/stream?session_id=cold-${i}`);
    let sentAt = 0;
    let first = 0;
    const timer = setTimeout(() => (ws.terminate(), rej(new Error('call timed out'))), 10_000);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'start' })));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        if (first === 0) first = performance.now() - sentAt;
        return;
      }
      const msg = JSON.parse(String(data)) as { type: string };
      if (msg.type === 'ready') {
        sentAt = performance.now();
        ws.send(JSON.stringify({ type: 'text', text: 'Thank you for calling, how can I help you today?' }));
        ws.send(JSON.stringify({ type: 'flush' }));
      } else if (msg.type === 'turn_end') {
        clearTimeout(timer);
        ws.close(1000);
        res(first);
      } else if (msg.type === 'error') {
        clearTimeout(timer);
        ws.terminate();
        rej(new Error(String(data)));
      }
    });
    ws.on('error', (err) => (clearTimeout(timer), rej(err)));
  });
}

interface StartResult {
  readonly tree: string;
  readonly readyAfterMs: number;
  readonly flippedBack: boolean;
  readonly first: number;
  readonly steady: number;
}

async function coldStart(tree: string, dir: string, n: number): Promise<StartResult> {
  const defaults = parseYaml(readFileSync(join(tree, 'config/default.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  const configPath = join(dir, `cold-${n}.yaml`);
  writeFileSync(configPath, stringify({ ...defaults, server: { ...defaults.server, host: '127.0.0.1' } }));
  const port = await freePort();
  const base = `127.0.0.1:${port}`;
  const startedAt = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: tree,
    env: { ...process.env, VOICEGATE_CONFIG: configPath, PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    let readyAfterMs = 0;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`gateway exited (${child.exitCode})`);
      const status = await fetch(`http://${base}/ready`).then((r) => r.status, () => 0);
      if (status === 200) {
        readyAfterMs = performance.now() - startedAt;
        break;
      }
      if (performance.now() - startedAt > 60_000) throw new Error('not ready within 60 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    // /ready is watched for 2.5 s after ready (health checks: interval 1 s, fall 2, so a flap
    // shows within that), then the calls run alone: a poll beside them would time them too.
    let flippedBack = false;
    const until = performance.now() + 2500;
    while (performance.now() < until) {
      if ((await fetch(`http://${base}/ready`).then((r) => r.status, () => 0)) !== 200) flippedBack = true;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let i = 0; i < Number(values.discard); i++) await oneCall(base, 100 + i);
    const times: number[] = [];
    for (let i = 0; i < CALLS; i++) times.push(await oneCall(base, i));
    if (values.trace) console.log(times.map((t) => t.toFixed(1)).join(' '));
    return { tree, readyAfterMs, flippedBack, first: times[0]!, steady: median(times.slice(Math.max(1, CALLS - 5))) };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'voicegate-cold-bench-'));
const results: StartResult[] = [];
try {
  for (let s = 0; s < STARTS; s++) {
    for (const tree of TREES) {
      const r = await coldStart(tree, dir, results.length);
      results.push(r);
      console.log(`${tree === HERE ? 'this tree' : tree}  start ${s + 1}: ready after ${Math.round(r.readyAfterMs)} ms, first call ${r.first.toFixed(1)} ms, median of calls 6-10 ${r.steady.toFixed(1)} ms${r.flippedBack ? ', /ready FLIPPED BACK' : ''}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log('\n| tree | starts | /ready flipped back | ready after (median ms) | first call (median ms) | calls 6–10 (median of medians, ms) | first / steady (median of per-start ratios) |');
console.log('|---|---|---|---|---|---|---|');
for (const tree of TREES) {
  const rs = results.filter((r) => r.tree === tree);
  const ratio = median(rs.map((r) => r.first / r.steady));
  console.log(
    `| ${tree === HERE ? 'this tree' : tree} | ${rs.length} | ${rs.filter((r) => r.flippedBack).length} | ${Math.round(median(rs.map((r) => r.readyAfterMs)))} | ${median(rs.map((r) => r.first)).toFixed(1)} | ${median(rs.map((r) => r.steady)).toFixed(1)} | ${ratio.toFixed(2)} |`,
  );
}
