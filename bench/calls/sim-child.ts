/**
 * The simulator child of bench/calls.ts: a fleet of fake GPU instances (openai protocol) in
 * its own process, with a fixed time to first audio and a fast real-time factor so it is not
 * the bottleneck. Configured by the CALLS_SIM environment variable (JSON SimChildConfig);
 * replies `{type:'ready', urls}` over IPC.
 */
import { syntheticSource } from '../../src/sim/audio.ts';
import { startSimFleet } from '../../src/sim/fleet.ts';
import { serveChildIpc } from './child-ipc.ts';

export interface SimChildConfig {
  /** Instances in the fleet. */
  count: number;
  /** Request → first audio, ms (fixed: no jitter, no load slowdown). */
  firstAudioMs: number;
  /** Wall seconds per second of audio after the first chunk. */
  rtf: number;
  /** Audio per streamed chunk, ms. */
  chunkMs: number;
}

const config = JSON.parse(process.env.CALLS_SIM ?? '{}') as SimChildConfig;
const fleet = await startSimFleet({
  count: config.count,
  protocol: 'openai',
  controlPort: null,
  audio: syntheticSource(),
  latency: { first_audio_ms: config.firstAudioMs, rtf: config.rtf, chunk_ms: config.chunkMs, comfortable: 1_000_000, max: 1_000_000, jitter: 0 },
});
serveChildIpc(() => fleet.close());
process.send!({ type: 'ready', urls: fleet.instances.map((i) => i.url) });
