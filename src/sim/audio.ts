/**
 * Where the simulator's audio comes from: a cheap synthetic voiced buzz (load tests: no CPU
 * to speak of, duration proportional to the text) or espeak-ng (real, intelligible speech,
 * via the gateway's own EspeakEngine). Both give 24 kHz mono, what Kokoro emits.
 */
import type { Pcm } from '../audio/format.ts';

export const SIM_SAMPLE_RATE = 24_000;

export interface AudioSource {
  readonly kind: 'synthetic' | 'espeak';
  /** Whole-utterance audio at SIM_SAMPLE_RATE; the instance paces it out. */
  synthesize(text: string, voice: string, speed: number, signal?: AbortSignal): Promise<Pcm>;
  close(): Promise<void>;
}

/** The synthetic voice's pace: about 14 characters per second. */
export const DEFAULT_MS_PER_CHAR = 70;

/** Spoken duration of `text` at `msPerChar` (default ~14 characters per second), at least 200 ms. */
export function textDurationMs(text: string, speed = 1, msPerChar = DEFAULT_MS_PER_CHAR): number {
  const chars = text.trim().length;
  return Math.max(200, Math.round((chars * msPerChar) / (speed > 0 ? speed : 1)));
}

export interface SyntheticOptions {
  /** Milliseconds of audio per character of text. Default DEFAULT_MS_PER_CHAR (70). */
  msPerChar?: number;
  /** Fundamental of the buzz, Hz. Default 120. */
  pitchHz?: number;
}

/**
 * A voiced buzz (a few harmonics of `pitchHz`) shaped into ~5 syllables per second, so it
 * sounds like something is talking and has real energy for level meters. Sample i depends on
 * i alone, so the buzz is rendered once (grown when a longer request comes) and each request
 * gets a view of its start: no per-request work, which keeps the simulator cheap at thousands
 * of requests a second. The views share one buffer: callers only read them.
 */
export function syntheticSource(options: SyntheticOptions = {}): AudioSource {
  const msPerChar = options.msPerChar ?? DEFAULT_MS_PER_CHAR;
  const pitch = options.pitchHz ?? 120;
  const period = Math.round(SIM_SAMPLE_RATE / pitch);
  const wave = new Float32Array(period);
  for (let i = 0; i < period; i++) {
    const phase = (2 * Math.PI * i) / period;
    wave[i] = 0.5 * Math.sin(phase) + 0.25 * Math.sin(2 * phase) + 0.15 * Math.sin(3 * phase) + 0.1 * Math.sin(5 * phase);
  }
  const syllable = Math.round(SIM_SAMPLE_RATE * 0.2);
  let rendered = new Int16Array(0);
  const render = (n: number): Int16Array => {
    if (n > rendered.length) {
      const grown = new Int16Array(Math.max(n, rendered.length * 2));
      grown.set(rendered);
      for (let i = rendered.length; i < grown.length; i++) {
        const envelope = Math.sin((Math.PI * (i % syllable)) / syllable);
        grown[i] = Math.round(wave[i % period] * envelope * 12_000);
      }
      rendered = grown;
    }
    return rendered.subarray(0, n);
  };
  return {
    kind: 'synthetic',
    async synthesize(text, _voice, speed) {
      const ms = textDurationMs(text, speed, msPerChar);
      return { samples: render(Math.round((SIM_SAMPLE_RATE * ms) / 1000)), sampleRate: SIM_SAMPLE_RATE };
    },
    async close() {},
  };
}

/** Linear-interpolation resampler: good enough for a simulator's voice, not for the gateway. */
export function resampleLinear(pcm: Pcm, rate: number): Pcm {
  if (pcm.sampleRate === rate) return pcm;
  const src = pcm.samples;
  const n = Math.floor((src.length * rate) / pcm.sampleRate);
  const out = new Int16Array(n);
  const step = pcm.sampleRate / rate;
  for (let i = 0; i < n; i++) {
    const x = i * step;
    const j = Math.floor(x);
    const a = src[j] ?? 0;
    const b = src[j + 1] ?? a;
    out[i] = Math.round(a + (b - a) * (x - j));
  }
  return { samples: out, sampleRate: rate };
}

export interface EspeakSourceOptions {
  /** espeak worker threads. Default 1 (the simulator shares the machine with the gateway). */
  workers?: number;
  /** espeak voice used for every request (GPU voice ids like af_heart mean nothing to espeak). Default `en-us`. */
  voice?: string;
}

/** Real speech from espeak-ng (WASM, worker threads), resampled from 22 050 to 24 000 Hz. */
export async function espeakSource(options: EspeakSourceOptions = {}): Promise<AudioSource> {
  const { EspeakEngine } = await import('../backends/espeak-engine.ts');
  const engine = new EspeakEngine({ workers: options.workers ?? 1 });
  const voice = options.voice ?? 'en-us';
  return {
    kind: 'espeak',
    async synthesize(text, _voice, speed, signal) {
      const pcm = await engine.synthesize(text, voice, signal, speed);
      return resampleLinear(pcm, SIM_SAMPLE_RATE);
    },
    close: () => engine.close(),
  };
}
