/**
 * Conformance harnesses over the simulator: one fake instance speaking `protocol`, and the
 * gateway's Backend for it built the way the gateway builds it (parseConfig + createBackend).
 * Used by the adapters' tests and available to anyone running the conformance suite.
 */
import { parseConfig, type PoolConfig } from '../../src/config.ts';
import { Metrics } from '../../src/metrics.ts';
import { createBackend } from '../../src/backends/index.ts';
import type { Backend } from '../../src/backends/backend.ts';
import type { Faults } from '../../src/sim/faults.ts';
import type { LatencyModel } from '../../src/sim/latency.ts';
import { startSimFleet, type SimFleet } from '../../src/sim/fleet.ts';
import type { SimInstance, SimProtocol } from '../../src/sim/instance.ts';

export interface SimHarnessOptions {
  protocol: SimProtocol;
  /** Pool backend for the gateway side. Default: gradio for gradio/gradio4, else openai. */
  backend?: 'openai' | 'gradio';
  /** pools[].options. Default {}. */
  options?: Record<string, unknown>;
  /** pools[].timeouts. Default short test timeouts: connect 500, first audio 400, stall 300 ms. */
  timeouts?: { connect_ms?: number; first_audio_ms?: number; stall_ms?: number };
  /** Fake latency. Default: first audio 40 ms, rtf 0.08, 100 ms chunks (≈ 0.4 s for the conformance text). */
  latency?: Partial<LatencyModel>;
  voices?: string[];
  model?: string;
}

export interface SimHarness {
  backend: Backend;
  fleet: SimFleet;
  instance: SimInstance;
  pool: PoolConfig;
  metrics: Metrics;
  labels: { pool: string; instance: string };
  setFaults(p: Partial<Faults>): Promise<void>;
  activeStreams(): number;
  close(): Promise<void>;
}

export const TEST_TIMEOUTS = { connect_ms: 500, first_audio_ms: 400, stall_ms: 300 } as const;

export async function startSimHarness(options: SimHarnessOptions): Promise<SimHarness> {
  const fleet = await startSimFleet({
    count: 1,
    protocol: options.protocol,
    controlPort: null,
    latency: { first_audio_ms: 40, rtf: 0.08, chunk_ms: 100, ...options.latency },
  });
  const instance = fleet.instances[0]!;
  const gradio = options.protocol === 'gradio' || options.protocol === 'gradio4';
  const config = parseConfig({
    pools: [
      {
        name: 'sim',
        backend: options.backend ?? (gradio ? 'gradio' : 'openai'),
        model: options.model ?? (options.protocol === 'chattts' ? 'tts-1' : 'kokoro'),
        voices: options.voices ?? [options.protocol === 'chattts' ? 'default' : 'af_heart'],
        instances: [{ id: instance.id, url: instance.url }],
        timeouts: { ...TEST_TIMEOUTS, ...options.timeouts },
        health: { path: '/health', timeout_ms: 500 },
        options: options.options ?? {},
      },
    ],
  });
  const pool = config.pools[0]!;
  const metrics = new Metrics({ defaultMetrics: false });
  const backend = createBackend(pool, { ...pool.instances[0]!, id: instance.id }, { metrics });
  return {
    backend,
    fleet,
    instance,
    pool,
    metrics,
    labels: { pool: pool.name, instance: instance.id },
    setFaults: (p) => instance.setFaults(p),
    activeStreams: () => instance.activeStreams(),
    async close() {
      await backend.close();
      await fleet.close();
    },
  };
}
