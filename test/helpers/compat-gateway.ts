/**
 * A gateway over a simulated fleet for the drop-in front end tests: two fake GPU instances
 * (OpenAI protocol), one API key, and a voice_map per protocol mapping a provider id to a
 * pool voice.
 */
import { parseConfig } from '../../src/config.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../../src/sim/fleet.ts';
import type { SimInstance } from '../../src/sim/instance.ts';

export const API_KEY = 'vg-compat-key';
/** Provider voice ids mapped to the pool voice af_heart. */
export const CARTESIA_VOICE = 'a0e99841-438c-4a64-b679-ae501e7d6091';
export const ELEVENLABS_VOICE = '21m00Tcm4TlvDq8ikWAM';
export const DEEPGRAM_MODEL = 'aura-2-thalia-en';

export interface CompatFixture {
  readonly gateway: Gateway;
  readonly fleet: SimFleet;
  readonly port: number;
  readonly http: string;
  readonly ws: string;
  /** The instance a session key is pinned to. */
  instanceOf(id: string): SimInstance;
  totalActive(): number;
  close(): Promise<void>;
}

export async function startCompatGateway(options: { instances?: number; session?: Record<string, unknown>; latency?: Record<string, number>; timeouts?: Record<string, number> } = {}): Promise<CompatFixture> {
  const fleet = await startSimFleet({
    count: options.instances ?? 2,
    protocol: 'openai',
    controlPort: null,
    latency: { first_audio_ms: 20, rtf: 0.05, chunk_ms: 100, ...options.latency },
  });
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0, engine: process.env.VOICEGATE_TEST_ENGINE ?? 'auto' },
    auth: { api_keys: [API_KEY] },
    session: { ...options.session },
    compat: {
      cartesia: { voice_map: { [CARTESIA_VOICE]: 'af_heart' } },
      elevenlabs: { voice_map: { [ELEVENLABS_VOICE]: 'af_heart' } },
      deepgram: { voice_map: { [DEEPGRAM_MODEL]: 'af_heart' } },
    },
    pools: [
      {
        name: 'kokoro',
        backend: 'openai',
        model: 'kokoro',
        voices: ['af_heart', 'am_adam'],
        instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 8 })),
        timeouts: { connect_ms: 500, first_audio_ms: 1500, stall_ms: 1000, ...options.timeouts },
        health: { interval_ms: 200, timeout_ms: 500, rise: 1, fall: 1 },
      },
    ],
  });
  const gateway = await createGateway({ config });
  const port = await gateway.listen();
  // Instances count as up after their first health check.
  const deadline = performance.now() + 10_000;
  while ((await fetch(`http://127.0.0.1:${port}/ready`)).status !== 200) {
    if (performance.now() > deadline) throw new Error('the gateway never became ready');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    gateway,
    fleet,
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    instanceOf: (id) => fleet.instance(id)!,
    totalActive: () => fleet.instances.reduce((n, i) => n + i.activeStreams(), 0),
    async close() {
      await gateway.close();
      await fleet.close();
    },
  };
}
