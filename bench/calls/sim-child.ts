/**
 * The simulator child of bench/calls.ts: a fleet of fake GPU instances (openai protocol) in
 * its own process, with a fixed time to first audio and a fast real-time factor so it is not
 * the bottleneck. Configured by the CALLS_SIM environment variable (JSON SimChildConfig);
 * replies `{type:'ready', urls}` over IPC.
 */
import type { Pcm } from '../../src/audio/format.ts';
import { SIM_SAMPLE_RATE, syntheticSource, textDurationMs, type AudioSource } from '../../src/sim/audio.ts';
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

/**
 * The simulator's synthetic buzz, rendered once and sliced per request: the stock source
 * computes every sample per request, which at thousands of requests a second would make the
 * simulator the bottleneck. Same durations (textDurationMs), same sample rate.
 */
async function cachedSyntheticSource(maxChars: number): Promise<AudioSource> {
  const base = syntheticSource();
  const whole = await base.synthesize('x'.repeat(maxChars), 'af_heart', 1);
  return {
    kind: 'synthetic',
    async synthesize(text, _voice, speed): Promise<Pcm> {
      const n = Math.round((SIM_SAMPLE_RATE * textDurationMs(text, speed)) / 1000);
      if (n > whole.samples.length) return base.synthesize(text, _voice, speed);
      return { samples: whole.samples.subarray(0, n), sampleRate: SIM_SAMPLE_RATE };
    },
    close: () => base.close(),
  };
}

const config = JSON.parse(process.env.CALLS_SIM ?? '{}') as SimChildConfig;
const fleet = await startSimFleet({
  count: config.count,
  protocol: 'openai',
  controlPort: null,
  audio: await cachedSyntheticSource(1000),
  latency: { first_audio_ms: config.firstAudioMs, rtf: config.rtf, chunk_ms: config.chunkMs, comfortable: 1_000_000, max: 1_000_000, jitter: 0 },
});
serveChildIpc(() => fleet.close());
process.send!({ type: 'ready', urls: fleet.instances.map((i) => i.url) });
