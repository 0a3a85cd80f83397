/**
 * The gateway child of bench/calls.ts: voicegate alone in its own process, so its CPU and
 * memory can be read from /proc without the load generator's. Configured by CALLS_GATEWAY
 * (JSON GatewayChildConfig); replies `{type:'ready', port, engine, pids}` over IPC.
 *
 * With `workers` > 1 it runs as `npm start` does with server.workers (src/cluster/workers.ts):
 * this process becomes the primary on a free fixed port and forks the workers, each the
 * ordinary worker gateway (createWorkerGateway: slots and pins shared through the primary).
 * `pids` then lists the primary and every worker, so the parent sums their CPU and memory. GC
 * figures are per process and are not collected in that mode (the answers are null).
 */
import cluster from 'node:cluster';
import { createServer } from 'node:net';
import { parseConfig, type Config } from '../../src/config.ts';
import { createGateway } from '../../src/gateway.ts';
import { createWorkerGateway, runPrimary } from '../../src/cluster/workers.ts';
import { createLogger } from '../../src/log.ts';
import { applyHeapGrowth } from '../../src/server/heap.ts';
import { LoopLagMonitor } from '../../src/routing/loop-lag.ts';
import { serveChildIpc } from './child-ipc.ts';

export interface GatewayChildConfig {
  engine: 'uws' | 'ws';
  /** Simulator instance URLs: one pool, one instance each. */
  urls: string[];
  /** Streams each instance may take (high: the fleet must not be the limit). */
  maxConcurrency: number;
  /** server.heap_growing_percent, applied as main.ts applies it. */
  heapGrowingPercent: number;
  /** server.max_sessions (0 = no limit; per worker with workers). */
  maxSessions: number;
  /** server.workers: 1 = one gateway process (no primary). */
  workers: number;
}

const config = JSON.parse(process.env.CALLS_GATEWAY ?? '{}') as GatewayChildConfig;
const workers = config.workers ?? 1;
/** The fixed port the primary picked for its workers (server.workers needs one). */
const PORT_ENV = 'CALLS_GATEWAY_PORT';

function gatewayConfig(port: number): Config {
  return parseConfig({
    server: { host: '127.0.0.1', port, engine: config.engine, heap_growing_percent: config.heapGrowingPercent, max_sessions: config.maxSessions, workers },
    pools: [
      {
        name: 'sim',
        backend: 'openai',
        model: 'kokoro',
        voices: ['af_heart'],
        instances: config.urls.map((url, i) => ({ id: `sim-${i + 1}`, url, max_concurrency: config.maxConcurrency })),
      },
    ],
    log: { level: 'silent' },
  });
}

if (workers > 1 && cluster.isPrimary) await runAsPrimary();
else await runGateway();

/** One gateway: the whole child (workers 1), or one worker of the primary above. */
async function runGateway(): Promise<void> {
  applyHeapGrowth(config.heapGrowingPercent);
  if (cluster.isWorker) {
    const gateway = await createWorkerGateway({ config: gatewayConfig(Number(process.env[PORT_ENV])) });
    await gateway.listen();
    // The primary's SIGTERM (the parent's `exit`), or the primary gone: close and leave.
    const exit = (): void => void gateway.close().then(() => process.exit(0));
    process.once('SIGTERM', exit);
    process.once('disconnect', exit);
    process.send!({ type: 'worker-ready', engine: gateway.engine });
    return;
  }
  const gateway = await createGateway({ config: gatewayConfig(0) });
  const port = await gateway.listen();
  serveChildIpc(() => gateway.close());
  if (process.env.CALLS_LAG_LOG) {
    // Timer drift over 50 ms, with the time since the child started (to line up with phases).
    const t0 = performance.now();
    new LoopLagMonitor({
      intervalMs: 20,
      lagMs: 50,
      onLag: (ms) => process.stderr.write(`lag ${ms.toFixed(0)} ms at ${((performance.now() - t0) / 1000).toFixed(1)} s\n`),
    });
  }
  if (process.env.CALLS_HEAP_SAMPLE) void sampleAllocations(process.env.CALLS_HEAP_SAMPLE);
  process.send!({ type: 'ready', port, engine: gateway.engine, pids: [process.pid] });
}

/** server.workers > 1: the primary of src/cluster/workers.ts, ready once every worker listens. */
async function runAsPrimary(): Promise<void> {
  const port = await freePort();
  process.env[PORT_ENV] = String(port); // inherited by the workers cluster.fork() starts
  let ready = 0;
  let engine = '';
  cluster.on('message', (_worker, msg: { type?: string; engine?: string }) => {
    if (msg?.type !== 'worker-ready') return;
    engine = msg.engine ?? engine;
    if (++ready === workers) {
      const pids = [process.pid, ...Object.values(cluster.workers ?? {}).map((w) => w!.process.pid!)];
      process.send!({ type: 'ready', port, engine, pids });
    }
  });
  // The parent's asks: GC figures are per process (null here); `exit` drains every worker as a
  // SIGTERM to `npm start` would.
  process.on('message', (msg: { type?: string }) => {
    if (msg?.type === 'gc' || msg?.type === 'gc-counts') process.send!({ type: `${msg.type}-done`, value: null });
    else if (msg?.type === 'exit') process.kill(process.pid, 'SIGTERM');
  });
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  const parsed = gatewayConfig(port);
  process.exit(await runPrimary({ workers, logger: createLogger('warn'), drainMs: parsed.server.drain_timeout_ms, cluster: parsed.cluster }));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Allocation sampling including what the GC already collected (the garbage is the point),
 * from CALLS_HEAP_SAMPLE="<start s>,<seconds>,<file>" after the child is ready.
 */
async function sampleAllocations(spec: string): Promise<void> {
  const [startS, seconds, file] = spec.split(',');
  const { Session } = await import('node:inspector/promises');
  const { setTimeout: sleep } = await import('node:timers/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await sleep(Number(startS) * 1000);
  await session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
  await sleep(Number(seconds) * 1000);
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: unknown };
  writeFileSync(file!, JSON.stringify(profile));
  process.stderr.write(`heap sample written to ${file}\n`);
}
