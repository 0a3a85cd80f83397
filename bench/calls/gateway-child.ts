/**
 * The gateway child of bench/calls.ts: voicegate alone in its own process, so its CPU and
 * memory can be read from /proc without the load generator's. Configured by CALLS_GATEWAY
 * (JSON GatewayChildConfig); replies `{type:'ready', port, engine}` over IPC.
 */
import { parseConfig } from '../../src/config.ts';
import { createGateway } from '../../src/gateway.ts';
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
  /** server.max_sessions (0 = no limit). */
  maxSessions: number;
}

const config = JSON.parse(process.env.CALLS_GATEWAY ?? '{}') as GatewayChildConfig;
applyHeapGrowth(config.heapGrowingPercent);
const gateway = await createGateway({
  config: parseConfig({
    server: { host: '127.0.0.1', port: 0, engine: config.engine, heap_growing_percent: config.heapGrowingPercent, max_sessions: config.maxSessions },
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
  }),
});
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
process.send!({ type: 'ready', port, engine: gateway.engine });
