/**
 * Call load benchmark (issue 11): N concurrent calls streaming LLM-like turns over
 * /v1/stream, through voicegate and straight to the simulator, side by side in one run.
 * Measures time to first audio per turn, playout stalls, completeness (every segment once, in
 * order; turn_end per turn; cancelled after a cancel and nothing after it), the gateway's CPU
 * and RSS, and a scaling curve. See docs/benchmarks.md for definitions.
 *
 *   npx tsx bench/calls.ts --help
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { ENCODINGS, type Encoding } from '../src/audio/format.ts';
import { CallRefused, DirectCall, GatewayCall, type CallBase } from './calls/call.ts';
import type { ChildGcCounts } from './calls/child-ipc.ts';
import { childGc, childGcCounts, cpuSeconds, killAllChildren, pinToCpus, rssBytes, runQueueWaitSeconds, startChild, stopChild, type Child } from './calls/procs.ts';
import type { GatewayChildConfig } from './calls/gateway-child.ts';
import type { SimChildConfig } from './calls/sim-child.ts';
import { RunStats, round, summarize, type Summary } from './calls/stats.ts';
import { scalingSvg, type ScalingPoint } from './calls/svg.ts';

const HELP = `voicegate call load benchmark: concurrent LLM-driven calls through the gateway and
straight to the simulator, side by side in one run.

Usage: npx tsx bench/calls.ts [options]

Plan (default: 12 runs, 16 min wall on 2 cores in the 16:22 recording of bench/RESULTS.md)
  --levels <list>         concurrent calls per level                [100,500,1000,2000,5000]
  --compare-level <n>     level at which every engine runs          [1000]
  --engines <list>        engines compared at that level            [uws,ws]
  --max-sessions <n>      the gateway's server.max_sessions: calls past it are refused
                          (counted as refused, not as problems)     [0 = no limit]
  --heap-growing-percent <list>
                          the gateway's server.heap_growing_percent; the first value
                          runs everywhere, the others at the compare level too (e.g.
                          300,0: with and without heap headroom)     [300]
  --scale-engine <e>      engine of the scaling curve               [uws]
  --workers <list>        the gateway's server.workers: the scaling-curve runs repeat
                          at every level for each count, side by side (e.g. 1,2); the
                          compare-level runs use the first. With workers the gateway
                          is the primary plus its workers, CPU and RSS summed over
                          them; GC and heap figures are left out     [1]
  --idle-level <n>        idle sessions checked per engine (0 = off) [5000]
  --ramp <s>              calls start their first turn spread over this
                          (about one turn cycle: the load is steady after it);
                          turns started in the ramp are checked, not timed  [20]
  --duration <s>          measured time per run, after the ramp       [30]
  --quick                 levels 50,200, compare at 200, ramp 4 s, 8 s, idle 500 (a smoke run)

Calls
  --token-rate <n>        LLM tokens per second (≈4 chars each)      [50]
  --cancel-share <x>      share of turns interrupted (barge-in)     [0.2]
  --encoding <e>          client audio encoding                     [pcm_s16le]
  --sample-rate <hz>      client sample rate                        [24000]
  --frame-ms <ms>         client frame size (0 = as produced)       [0]
  --stall-ms <ms>         playout gap counted as a stall            [20]
  --think-ms <lo,hi>      caller's reply between bot turns, ms      [2000,5000]

Simulator (child process; fixed latency so it is not the bottleneck)
  --sim-instances <n>     fake GPU instances                        [32]
  --first-audio-ms <ms>   request → first audio                     [150]
  --rtf <x>               wall seconds per second of audio          [0.05]
  --chunk-ms <ms>         audio per streamed chunk                  [200]

Output
  --out <dir>             results directory                         [bench/calls-results]
  --pin                   the gateway child on CPU 1, load generator and simulator on
                          CPU 0 (as in production, where callers and GPUs are other
                          machines): the gateway never waits behind them for a core
  --cpu-prof              run each gateway child with --cpu-prof (profiles in
                          <out>/profiles/gateway-<engine>-<calls>/, one per thread)
  -h, --help

Processes: this script (load generator), one simulator child and one gateway child per run
(with --workers > 1 the gateway child is a primary and its workers),
all on the same machine. Raise the open-files limit for 5,000 calls if it is below ~12,000
(\`ulimit -n 65536\` in the shell before running).`;

const { values } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h' },
    quick: { type: 'boolean', default: false },
    levels: { type: 'string' },
    'compare-level': { type: 'string' },
    engines: { type: 'string', default: 'uws,ws' },
    'heap-growing-percent': { type: 'string', default: '300' },
    'max-sessions': { type: 'string', default: '0' },
    'scale-engine': { type: 'string', default: 'uws' },
    workers: { type: 'string', default: '1' },
    'idle-level': { type: 'string' },
    duration: { type: 'string' },
    ramp: { type: 'string' },
    'token-rate': { type: 'string', default: '50' },
    'cancel-share': { type: 'string', default: '0.2' },
    encoding: { type: 'string', default: 'pcm_s16le' },
    'sample-rate': { type: 'string', default: '24000' },
    'frame-ms': { type: 'string', default: '0' },
    'stall-ms': { type: 'string', default: '20' },
    'think-ms': { type: 'string', default: '2000,5000' },
    'sim-instances': { type: 'string', default: '32' },
    'first-audio-ms': { type: 'string', default: '150' },
    rtf: { type: 'string', default: '0.05' },
    'chunk-ms': { type: 'string', default: '200' },
    out: { type: 'string', default: fileURLToPath(new URL('./calls-results', import.meta.url)) },
    'cpu-prof': { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

type Engine = 'uws' | 'ws';
type Target = 'direct' | Engine;
const quick = values.quick!;
const numberList = (s: string) => s.split(',').map((x) => Number(x.trim())).filter((x) => x > 0);
const levels = numberList(values.levels ?? (quick ? '50,200' : '100,500,1000,2000,5000'));
const compareLevel = Number(values['compare-level'] ?? (quick ? 200 : 1000));
const engines = values.engines!.split(',').map((e) => e.trim()) as Engine[];
const heapSettings = values['heap-growing-percent']!.split(',').map((x) => Number(x.trim()));
if (heapSettings.length === 0 || !heapSettings.every((x) => Number.isInteger(x) && x >= 0)) throw new Error('--heap-growing-percent needs whole numbers ≥ 0');
const heapDefault = heapSettings[0]!;
const maxSessions = Number(values['max-sessions']);
if (!Number.isInteger(maxSessions) || maxSessions < 0) throw new Error('--max-sessions needs a whole number ≥ 0');
const scaleEngine = values['scale-engine'] as Engine;
const workerCounts = numberList(values.workers!);
if (workerCounts.length === 0 || !workerCounts.every((x) => Number.isInteger(x))) throw new Error('--workers needs whole numbers ≥ 1');
const workersDefault = workerCounts[0]!;
const idleLevel = Number(values['idle-level'] ?? (quick ? 500 : 5000));
const durationS = Number(values.duration ?? (quick ? 8 : 30));
const rampS = Number(values.ramp ?? (quick ? 4 : 20));
const tokenIntervalMs = 1000 / Number(values['token-rate']);
const cancelShare = Number(values['cancel-share']);
const encoding = values.encoding! as Encoding;
if (!ENCODINGS.includes(encoding)) throw new Error(`--encoding must be one of ${ENCODINGS.join(', ')}`);
const sampleRate = Number(values['sample-rate']);
const frameMs = Number(values['frame-ms']);
const stallMs = Number(values['stall-ms']);
const thinkMs = values['think-ms']!.split(',').map(Number) as [number, number];
if (thinkMs.length !== 2 || !thinkMs.every((x) => x >= 0)) throw new Error('--think-ms needs lo,hi');
const sim: SimChildConfig = {
  count: Number(values['sim-instances']),
  firstAudioMs: Number(values['first-audio-ms']),
  rtf: Number(values.rtf),
  chunkMs: Number(values['chunk-ms']),
};
const outDir = values.out!;
for (const e of [...engines, scaleEngine]) if (e !== 'uws' && e !== 'ws') throw new Error(`unknown engine ${e}`);

interface RunPlan {
  calls: number;
  target: Target;
  /** The gateway's server.heap_growing_percent. */
  heap: number;
  /** Only open the sessions and measure memory (no talking). */
  idleOnly: boolean;
  /** The gateway's server.workers. */
  workers: number;
}

const plan: RunPlan[] = [];
for (const calls of levels) {
  plan.push({ calls, target: 'direct', heap: heapDefault, idleOnly: false, workers: workersDefault });
  const compared = calls === compareLevel;
  for (const target of compared ? [...new Set([scaleEngine, ...engines])] : [scaleEngine]) {
    for (const heap of compared ? heapSettings : [heapDefault]) plan.push({ calls, target, heap, idleOnly: false, workers: workersDefault });
  }
  for (const workers of workerCounts.slice(1)) plan.push({ calls, target: scaleEngine, heap: heapDefault, idleOnly: false, workers });
}
if (idleLevel > 0) {
  const topLevel = Math.max(...levels);
  for (const engine of new Set([scaleEngine, ...engines])) {
    const covered = plan.some((p) => p.target === engine && p.calls === idleLevel) || (idleLevel === topLevel && engine === scaleEngine);
    if (!covered) plan.push({ calls: idleLevel, target: engine, heap: heapDefault, idleOnly: true, workers: workersDefault });
  }
}

interface GatewayFigures {
  engine: string;
  rss_base_mb: number;
  rss_idle_mb: number;
  rss_active_max_mb: number | null;
  heap_base_mb: number | null;
  heap_idle_mb: number | null;
  rss_per_1k_idle_mb: number;
  rss_per_1k_active_mb: number | null;
  cpu_s: number | null;
  cores: number | null;
  cpu_s_per_call_minute: number | null;
  metrics: GatewayMetrics | null;
}

/** Read from the gateway's /metrics at the end of a run (whole-run averages, ms). */
interface GatewayMetrics {
  eventloop_lag_p99_ms: number;
  eventloop_lag_max_ms: number;
  backend_ttfb_mean_ms: number;
  ttfa_mean_ms: number;
  failovers: number;
}

async function scrapeGateway(port: number): Promise<GatewayMetrics | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    const sum = (name: string): number => {
      let total = 0;
      for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === '{' || line[name.length] === ' ')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
      return total;
    };
    // Per-process series (one per worker, labelled `worker`): the worst worker's.
    const max = (name: string): number => {
      let most = 0;
      for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === '{' || line[name.length] === ' ')) most = Math.max(most, Number(line.slice(line.lastIndexOf(' ') + 1)));
      return most;
    };
    const mean = (base: string) => round((sum(`${base}_sum`) / Math.max(1, sum(`${base}_count`))) * 1000, 1);
    return {
      eventloop_lag_p99_ms: round(max('nodejs_eventloop_lag_p99_seconds') * 1000, 1),
      eventloop_lag_max_ms: round(max('nodejs_eventloop_lag_max_seconds') * 1000, 1),
      backend_ttfb_mean_ms: mean('voicegate_tts_ttfb_seconds'),
      ttfa_mean_ms: mean('voicegate_ttfa_seconds'),
      failovers: sum('voicegate_failovers_total'),
    };
  } catch {
    return null;
  }
}

interface RunResult {
  calls: number;
  target: Target;
  /** The gateway's server.heap_growing_percent (direct runs: the default, unused). */
  heap_growing_percent: number;
  /** The gateway's server.workers (direct runs: the default, unused). */
  workers: number;
  idle_only: boolean;
  window_s: number;
  connect_s: number;
  calls_failed: number;
  /** Calls the gateway refused cleanly (server.max_sessions): neither served nor a problem. */
  calls_refused: number;
  turns_started: number;
  turns_completed: number;
  turns_per_call: number;
  /** Turns started during the ramp: checked for completeness, not timed. */
  warmup_turns: number;
  /**
   * Per process, ms per second of the measured window its main thread was runnable but
   * waiting for a CPU (schedstat): what sharing the cores cost it.
   */
  run_queue_wait_ms_per_s: { gateway: number | null; sim: number; loadgen: number } | null;
  cancels_sent: number;
  cancels_confirmed: number;
  turns_timed_out: number;
  segments: number;
  audio_s: number;
  /** Audio delivered per call per second of the window: the share of time the bot speaks. */
  speaking_share: number;
  problems: number;
  problem_samples: string[];
  failovers: number;
  stalls: number;
  stalled_turns: number;
  stall_ms_total: number;
  max_stall_ms: number;
  ttfa_ms: Summary;
  /** Through-gateway minus direct at the same level, per percentile. */
  gateway_added_ms: { p50: number; p90: number; p99: number } | null;
  gateway: GatewayFigures | null;
  /** The gateway's garbage collections during the measured window (main-thread pauses). */
  gateway_gc: ChildGcCounts | null;
  sim_cores: number | null;
  loadgen_cores: number | null;
  loadavg_start: number[];
  loadavg_end: number[];
}

const mb = (bytes: number) => round(bytes / 1048576, 1);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function openFilesLimit(): number {
  try {
    const match = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function progress(line: string): void {
  process.stderr.write(`\r${line.padEnd(118).slice(0, 118)}`);
}

async function main(): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const limit = openFilesLimit();
  const needed = Math.max(...plan.map((p) => p.calls)) * 2 + 500;
  if (limit < needed) {
    process.stderr.write(`open-files limit ${limit} is below the ~${needed} this plan needs: run \`ulimit -n 65536\` first\n`);
    process.exit(2);
  }
  const started = new Date();
  process.stderr.write(`calls bench: ${plan.length} runs, ${rampS} s ramp + ${durationS} s measured each; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);

  const simChild = await startChild('sim', './sim-child.ts', { CALLS_SIM: JSON.stringify(sim) });
  if (values.pin) {
    pinToCpus(process.pid, '0');
    pinToCpus(simChild.pid, '0');
  }
  const urls = simChild.info.urls as string[];
  const pools = urls.map((url) => new Pool(url, { keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 }));
  const results: RunResult[] = [];
  try {
    for (let i = 0; i < plan.length; i++) {
      const run = plan[i]!;
      const result = await runOne(run, `[${i + 1}/${plan.length}]`, simChild, urls, pools);
      const direct = results.find((r) => r.calls === run.calls && r.target === 'direct' && !r.idle_only);
      if (run.target !== 'direct' && direct && !run.idleOnly) {
        result.gateway_added_ms = {
          p50: round(result.ttfa_ms.p50 - direct.ttfa_ms.p50, 2),
          p90: round(result.ttfa_ms.p90 - direct.ttfa_ms.p90, 2),
          p99: round(result.ttfa_ms.p99 - direct.ttfa_ms.p99, 2),
        };
      }
      results.push(result);
      process.stderr.write(`\r${' '.repeat(118)}\r${describe(result)}\n`);
    }
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await stopChild(simChild);
  }

  const stamp = started.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const tag = quick ? `quick-${stamp}` : stamp;
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memory_gb: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    open_files_limit: limit,
  };
  const settings = {
    duration_s: durationS,
    ramp_s: rampS,
    token_rate: 1000 / tokenIntervalMs,
    cancel_share: cancelShare,
    format: { encoding, sample_rate: sampleRate, frame_ms: frameMs },
    stall_threshold_ms: stallMs,
    think_ms: thinkMs,
    sim,
    gateway: { lookahead: 2, eager_first: true, max_concurrency_per_instance: 100_000, max_sessions: maxSessions, workers: workerCounts },
  };
  const json = { bench: 'calls', date: started.toISOString(), command: `npx tsx bench/calls.ts ${process.argv.slice(2).join(' ')}`.trim(), machine, settings, runs: results };
  const jsonPath = `${outDir}/calls-${tag}.json`;
  writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);

  const scaled = results.filter((r) => r.target === scaleEngine && r.heap_growing_percent === heapDefault && r.workers === workersDefault && !r.idle_only && r.gateway_added_ms && r.gateway?.cores != null);
  // A level where no measured turn got audio has no added latency to plot: the subtitle says so.
  const plotted = scaled.filter((r) => Number.isFinite(r.gateway_added_ms!.p50));
  const overloaded = scaled.filter((r) => !plotted.includes(r)).map((r) => r.calls);
  const scaling: ScalingPoint[] = plotted.map((r) => ({ calls: r.calls, addedP50: r.gateway_added_ms!.p50, addedP99: r.gateway_added_ms!.p99, cores: r.gateway!.cores! }));
  let svgPath = '';
  if (scaling.length >= 2) {
    svgPath = `${outDir}/scaling-${tag}.svg`;
    const notPlotted = overloaded.length ? `; not plotted (no measured turn got audio): ${overloaded.join(', ')} calls` : '';
    writeFileSync(
      svgPath,
      scalingSvg(
        scaling,
        `voicegate (${scaleEngine}): gateway-added time to first audio and CPU vs concurrent calls`,
        `${machine.cores} cores shared by load generator, simulator and gateway; ${started.toISOString().slice(0, 10)}; ${rampS} s ramp + ${durationS} s measured${notPlotted}`,
      ),
    );
  }
  console.log(table(results));
  console.log(`\nresults: ${jsonPath}${svgPath ? `\nplot: ${svgPath}` : ''}`);
}

function describe(r: RunResult): string {
  const who = r.target === 'direct' ? 'direct' : `gateway ${r.target} (heap ${r.heap_growing_percent} %, ${r.workers} worker${r.workers === 1 ? '' : 's'})`;
  if (r.idle_only) return `${who} × ${r.calls} idle: RSS ${r.gateway?.rss_idle_mb} MB (base ${r.gateway?.rss_base_mb} MB)`;
  return `${who} × ${r.calls}: ${r.turns_started} turns, ${r.segments} segments, TTFA p50 ${r.ttfa_ms.p50.toFixed(1)} p99 ${r.ttfa_ms.p99.toFixed(1)} ms, ${r.stalls} stalls, ${r.problems} problems`;
}

function table(results: RunResult[]): string {
  const head = ['calls', 'target', 'workers', 'heap %', 'turns', 'cancels', 'segments', 'problems', 'stalls (turns)', 'TTFA p50', 'p90', 'p99', 'added p50', 'added p90', 'added p99', 'gw cores', 'run-queue wait ms/s gw / sim / loadgen', 'gw CPU s/call-min', 'gw GC: major n / ms / max ms · minor n / ms / max ms', 'sim cores', 'loadgen cores', 'RSS MB idle / active', 'RSS MB per 1k idle / active'];
  const rows = results.map((r) => {
    const g = r.gateway;
    const f = (x: number | null | undefined, d = 1) => (x == null || !Number.isFinite(x) ? '' : x.toFixed(d));
    const heap = r.target === 'direct' ? '' : r.heap_growing_percent;
    const workers = r.target === 'direct' ? '' : r.workers;
    const gc = r.gateway_gc;
    if (r.idle_only) return [r.calls, r.target, workers, heap, '', '', '', r.calls_failed ? `${r.calls_failed} failed` : '0', '', '', '', '', '', '', '', '', '', '', '', '', '', `${f(g?.rss_idle_mb)} / –`, `${f(g?.rss_per_1k_idle_mb)} / –`];
    return [
      r.calls,
      r.target,
      workers,
      heap,
      r.turns_started,
      `${r.cancels_confirmed}/${r.cancels_sent}`,
      r.segments,
      r.calls_refused ? `${r.problems + r.calls_failed} (${r.calls_refused} refused)` : r.problems + r.calls_failed,
      `${r.stalls} (${r.stalled_turns})`,
      f(r.ttfa_ms.p50),
      f(r.ttfa_ms.p90),
      f(r.ttfa_ms.p99),
      f(r.gateway_added_ms?.p50, 2),
      f(r.gateway_added_ms?.p90, 2),
      f(r.gateway_added_ms?.p99, 2),
      f(g?.cores, 2),
      r.run_queue_wait_ms_per_s ? `${f(r.run_queue_wait_ms_per_s.gateway)} / ${f(r.run_queue_wait_ms_per_s.sim)} / ${f(r.run_queue_wait_ms_per_s.loadgen)}` : '',
      f(g?.cpu_s_per_call_minute, 4),
      gc ? `${gc.major} / ${f(gc.majorMs, 0)} / ${f(gc.majorMaxMs)} · ${gc.minor} / ${f(gc.minorMs, 0)} / ${f(gc.minorMaxMs)}` : '',
      f(r.sim_cores, 2),
      f(r.loadgen_cores, 2),
      g ? `${f(g.rss_idle_mb)} / ${f(g.rss_active_max_mb)}` : '',
      g ? `${f(g.rss_per_1k_idle_mb)} / ${f(g.rss_per_1k_active_mb)}` : '',
    ];
  });
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

async function runOne(run: RunPlan, label: string, simChild: Child, urls: string[], pools: Pool[]): Promise<RunResult> {
  const loadStart = loadavg().map((x) => round(x, 2));
  const stats = new RunStats();
  let gateway: Child | null = null;
  const who = run.target === 'direct' ? 'direct' : `${run.target}${run.heap === heapDefault ? '' : `-heap${run.heap}`}${run.workers === 1 ? '' : `-w${run.workers}`}`;
  progress(`${label} ${who} × ${run.calls}: starting`);
  if (run.target !== 'direct') {
    const config: GatewayChildConfig = { engine: run.target, urls, maxConcurrency: 100_000, heapGrowingPercent: run.heap, maxSessions, workers: run.workers };
    const prof = values['cpu-prof'] && !run.idleOnly ? ['--cpu-prof', `--cpu-prof-dir=${outDir}/profiles/gateway-${run.target}-${run.calls}`] : [];
    // Diagnostics for the gateway child only, e.g. CALLS_GATEWAY_NODE_ARGS=--trace-gc.
    if (process.env.CALLS_GATEWAY_NODE_ARGS) prof.push(...process.env.CALLS_GATEWAY_NODE_ARGS.split(' ').filter(Boolean));
    gateway = await startChild(`gateway-${run.target}`, './gateway-child.ts', { CALLS_GATEWAY: JSON.stringify(config) }, prof);
    if (values.pin) for (const pid of gatewayPids(gateway)) pinToCpus(pid, '1');
  }
  // The gateway's processes: itself, or its primary and workers (CPU and RSS are summed).
  const pids = gateway ? gatewayPids(gateway) : [];
  const gwCpuSeconds = (): number => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const gwRss = (): number => pids.reduce((sum, pid) => sum + rssBytes(pid), 0);
  const common = { tokenIntervalMs, cancelShare, stallThresholdMs: stallMs, thinkMs };
  const makeCall = (id: string, seed: number, s: RunStats, extra: { maxTurns?: number; cancelShare?: number } = {}): CallBase =>
    gateway
      ? new GatewayCall(id, { ...common, ...extra, stats: s, seed, url: `ws://127.0.0.1:${gateway.info.port as number}/v1/stream`, encoding, sampleRate, frameMs })
      : new DirectCall(id, { ...common, ...extra, stats: s, seed, pool: pools[seed % pools.length]! });
  const connect = async (call: CallBase, s: RunStats) => {
    if (!(call instanceof GatewayCall)) return true;
    try {
      await call.connect();
      return true;
    } catch (err) {
      if (err instanceof CallRefused) {
        s.callsRefused++;
        call.close();
        return false;
      }
      s.callsFailed++;
      s.problem(call.id, `connect: ${(err as Error).message}`);
      return false;
    }
  };

  // Baseline before any session (after the warm-up the heap holds more than before; the
  // difference is charged to the sessions, which errs on the high side).
  const base = gateway ? await childGc(gateway) : null;
  const rssBase = gateway ? gwRss() : 0;

  // Warm-up (JIT, connection pools): 20 one-turn calls, not counted.
  if (!run.idleOnly) {
    const warm = new RunStats();
    const warmCalls = Array.from({ length: 20 }, (_, i) => makeCall(`warm-${who}-${run.calls}-${i}`, 1_000_000 + i, warm, { maxTurns: 1, cancelShare: 0 }));
    await Promise.all(warmCalls.map(async (c) => (await connect(c, warm)) && c.run(performance.now() + 60_000)));
    for (const c of warmCalls) c.close();
    await sleep(300);
  }

  // Open every session (start → ready): N idle calls.
  const calls = Array.from({ length: run.calls }, (_, i) => makeCall(`call-${who}-${run.calls}-${i}`, i, stats));
  const connectStart = performance.now();
  let connected = 0;
  const ticker = setInterval(() => progress(`${label} ${who} × ${run.calls}: connecting ${connected}/${run.calls}`), 250);
  const ok: CallBase[] = [];
  await eachLimited(calls, 200, async (call) => {
    if (await connect(call, stats)) ok.push(call);
    connected++;
  });
  clearInterval(ticker);
  const connectS = (performance.now() - connectStart) / 1000;
  await sleep(1000);
  const idle = gateway ? await childGc(gateway) : null;
  const rssIdle = gateway ? gwRss() : 0;

  let windowS = 0;
  let gwCpu: number | null = null;
  let simCpu: number | null = null;
  let loadgenCpu: number | null = null;
  let rssActiveMax = 0;
  let runQueueWait: RunResult['run_queue_wait_ms_per_s'] = null;
  let gcWindow: Promise<ChildGcCounts | null> = Promise.resolve(null);
  if (!run.idleOnly) {
    const t0 = performance.now();
    const measureFrom = t0 + rampS * 1000;
    const deadline = measureFrom + durationS * 1000;
    stats.measureFrom = measureFrom;
    // Calls begin their first turn spread evenly (in a scrambled order) over the ramp, about
    // one turn cycle, as real calls arrive at random: a synchronized start would measure one
    // burst of first turns, not N calls in their steady state.
    const n = ok.length;
    const startOffset = (i: number): number => ((((i * 7919) % n) + 0.5) / n) * rampS * 1000;
    // CPU is read over the measured window only: from the end of the ramp to the deadline.
    let cpu0: { gw: number; gwWait: number; sim: number; self: NodeJS.CpuUsage; waits: number[] } | null = null;
    const waitPids = [simChild.pid, process.pid];
    const gwWait = (): number => pids.reduce((sum, pid) => sum + runQueueWaitSeconds(pid), 0);
    const readCpu = () => ({
      gw: gateway ? gwCpuSeconds() : 0,
      gwWait: gateway ? gwWait() : Number.NaN,
      sim: cpuSeconds(simChild.pid),
      self: process.cpuUsage(),
      waits: waitPids.map((pid) => (pid > 0 ? runQueueWaitSeconds(pid) : Number.NaN)),
    });
    const windowStart = setTimeout(() => {
      cpu0 = readCpu();
      if (gateway) void childGcCounts(gateway); // restarts the child's count
    }, rampS * 1000);
    const windowEnd = new Promise<void>((resolve) =>
      setTimeout(() => {
        if (cpu0 !== null) {
          windowS = (performance.now() - measureFrom) / 1000;
          if (gateway) gwCpu = gwCpuSeconds() - cpu0.gw;
          simCpu = cpuSeconds(simChild.pid) - cpu0.sim;
          const self = process.cpuUsage(cpu0.self);
          loadgenCpu = (self.user + self.system) / 1e6;
          const w0 = cpu0.waits;
          const waitMsPerS = (i: number) => round(((runQueueWaitSeconds(waitPids[i]!) - w0[i]!) * 1000) / windowS, 1);
          runQueueWait = { gateway: gateway ? round(((gwWait() - cpu0.gwWait) * 1000) / windowS, 1) : null, sim: waitMsPerS(0), loadgen: waitMsPerS(1) };
          if (gateway) gcWindow = childGcCounts(gateway);
        }
        resolve();
      }, (rampS + durationS) * 1000),
    );
    let finished = 0;
    const sampler = setInterval(() => {
      if (gateway && performance.now() >= measureFrom) rssActiveMax = Math.max(rssActiveMax, gwRss());
    }, 1000);
    const total = rampS + durationS;
    const bar = setInterval(() => {
      const elapsed = (performance.now() - t0) / 1000;
      const done = Math.min(1, elapsed / total);
      const width = 20;
      const filled = Math.round(done * width);
      const p50 = stats.ttfa.length ? summarize(stats.ttfa.slice(-2000)).p50.toFixed(0) : '–';
      const phase = elapsed < rampS ? 'ramp' : elapsed <= total ? 'measuring' : `finishing ${ok.length - finished}`;
      progress(
        `${label} ${who} × ${run.calls} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${elapsed.toFixed(0)}/${total} s ${phase}` +
          `  turns ${stats.turnsStarted} seg ${stats.segments} ttfa p50 ${p50} ms stalls ${stats.stalls} problems ${stats.problems}`,
      );
    }, 250);
    const cap = sleep(total * 1000 + 45_000).then(() => 'cap' as const);
    await Promise.race([
      Promise.all(
        ok.map(async (call, i) => {
          await sleep(startOffset(i));
          await call.run(deadline);
          finished++;
        }),
      ),
      cap,
    ]);
    await windowEnd;
    clearTimeout(windowStart);
    clearInterval(bar);
    clearInterval(sampler);
    if (gateway) rssActiveMax = Math.max(rssActiveMax, gwRss());
  }

  // The gateway's own view (its /metrics): event-loop lag, backend time to first byte, TTFA.
  const gwMetrics = gateway && !run.idleOnly ? await scrapeGateway(gateway.info.port as number) : null;
  const gwGc = await gcWindow;
  progress(`${label} ${who} × ${run.calls}: closing`);
  for (const call of ok) call.close();
  await sleep(500);
  for (const call of ok) if (call instanceof GatewayCall) call.terminate();
  if (gateway) await stopChild(gateway);
  await sleep(500);

  const callMinutes = (ok.length * windowS) / 60;
  const gw: GatewayFigures | null = gateway
    ? {
        engine: String(gateway.info.engine),
        rss_base_mb: mb(rssBase),
        rss_idle_mb: mb(rssIdle),
        rss_active_max_mb: run.idleOnly ? null : mb(rssActiveMax),
        heap_base_mb: base ? mb(base.heapUsed) : null,
        heap_idle_mb: idle ? mb(idle.heapUsed) : null,
        rss_per_1k_idle_mb: round(((rssIdle - rssBase) / 1048576 / Math.max(1, ok.length)) * 1000, 1),
        rss_per_1k_active_mb: run.idleOnly ? null : round(((rssActiveMax - rssBase) / 1048576 / Math.max(1, ok.length)) * 1000, 1),
        cpu_s: gwCpu === null ? null : round(gwCpu, 2),
        cores: gwCpu === null || windowS === 0 ? null : round(gwCpu / windowS, 3),
        cpu_s_per_call_minute: gwCpu === null || callMinutes === 0 ? null : round(gwCpu / callMinutes, 5),
        metrics: gwMetrics,
      }
    : null;
  return {
    calls: run.calls,
    target: run.target,
    heap_growing_percent: run.heap,
    workers: run.workers,
    idle_only: run.idleOnly,
    window_s: round(windowS, 1),
    connect_s: round(connectS, 2),
    calls_failed: stats.callsFailed,
    calls_refused: stats.callsRefused,
    turns_started: stats.turnsStarted,
    turns_completed: stats.turnsCompleted,
    turns_per_call: round(stats.turnsStarted / Math.max(1, ok.length), 2),
    warmup_turns: stats.warmupTurns,
    run_queue_wait_ms_per_s: runQueueWait,
    cancels_sent: stats.cancelsSent,
    cancels_confirmed: stats.cancelsConfirmed,
    turns_timed_out: stats.turnsTimedOut,
    segments: stats.segments,
    audio_s: round(stats.audioMs / 1000, 0),
    speaking_share: round(stats.audioMs / 1000 / Math.max(1, ok.length) / Math.max(1e-9, windowS), 2),
    problems: stats.problems,
    problem_samples: stats.problemSamples,
    failovers: stats.failovers,
    stalls: stats.stalls,
    stalled_turns: stats.stalledTurns,
    stall_ms_total: round(stats.stallMs, 0),
    max_stall_ms: round(stats.maxStallMs, 1),
    ttfa_ms: roundSummary(summarize(stats.ttfa)),
    gateway_added_ms: null,
    gateway: gw,
    gateway_gc: gwGc ? { ...gwGc, majorMs: round(gwGc.majorMs, 1), majorMaxMs: round(gwGc.majorMaxMs, 1), minorMs: round(gwGc.minorMs, 1), minorMaxMs: round(gwGc.minorMaxMs, 1) } : null,
    sim_cores: simCpu === null || windowS === 0 ? null : round(simCpu / windowS, 3),
    loadgen_cores: loadgenCpu === null || windowS === 0 ? null : round(loadgenCpu / windowS, 3),
    loadavg_start: loadStart,
    loadavg_end: loadavg().map((x) => round(x, 2)),
  };
}

/** The gateway child's processes (its ready message): itself, or its primary and workers. */
function gatewayPids(gateway: Child): number[] {
  return (gateway.info.pids as number[] | undefined) ?? [gateway.pid];
}

function roundSummary(s: Summary): Summary {
  return { n: s.n, p50: round(s.p50, 2), p90: round(s.p90, 2), p99: round(s.p99, 2), max: round(s.max, 2), mean: round(s.mean, 2) };
}

process.on('SIGINT', () => {
  process.stderr.write('\ninterrupted: stopping children\n');
  killAllChildren();
  process.exit(130);
});

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`\ncalls bench failed: ${(err as Error)?.stack ?? err}\n`);
    killAllChildren();
    process.exit(1);
  },
);
