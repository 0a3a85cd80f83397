/**
 * Reference clips: recognise what was uploaded (by its bytes, never by its name or declared
 * type), decode it, and normalize it to what every server gets: mono 16-bit PCM at
 * `voices.sample_rate`. WAV is decoded by the gateway's own reader; MP3, FLAC and Ogg
 * (Vorbis, Opus) by the wasm-audio-decoders packages, loaded on first use.
 */
import type { Pcm } from '../audio/format.ts';
import { AudioFormatError } from '../audio/errors.ts';
import { createResampler } from '../audio/create-resampler.ts';
import { concatSamples } from '../audio/samples.ts';
import { decodeWav } from '../audio/wav.ts';
import { VoiceError } from './errors.ts';

export type ReferenceFormat = 'wav' | 'mp3' | 'flac' | 'ogg_vorbis' | 'ogg_opus';

/** Bytes sniffAudio needs to decide. */
export const SNIFF_BYTES = 64;

function ascii(b: Uint8Array, at: number, text: string): boolean {
  if (b.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

function includesAscii(b: Uint8Array, text: string, limit: number): boolean {
  for (let i = 0; i + text.length <= Math.min(b.length, limit); i++) if (ascii(b, i, text)) return true;
  return false;
}

/** The container of an upload from its first bytes; null when it is none we take. */
export function sniffAudio(head: Uint8Array): ReferenceFormat | null {
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'wav';
  if (ascii(head, 0, 'fLaC')) return 'flac';
  if (ascii(head, 0, 'OggS')) {
    if (includesAscii(head, 'OpusHead', SNIFF_BYTES)) return 'ogg_opus';
    if (includesAscii(head, 'vorbis', SNIFF_BYTES)) return 'ogg_vorbis';
    return null;
  }
  if (ascii(head, 0, 'ID3')) return 'mp3';
  // An MPEG audio frame header: 11 sync bits, a defined version, layer III/II/I, not a "bad" bitrate.
  if (head.length >= 4 && head[0] === 0xff && (head[1]! & 0xe0) === 0xe0 && ((head[1]! >> 3) & 3) !== 1 && ((head[1]! >> 1) & 3) !== 0 && head[2]! >> 4 !== 0xf) return 'mp3';
  return null;
}

interface Decoded {
  readonly channelData: Float32Array[];
  readonly sampleRate: number;
  readonly samplesDecoded: number;
  readonly errors: readonly unknown[];
}

interface WasmDecoder {
  ready: Promise<void>;
  free(): void;
}

async function decodeCompressed(bytes: Uint8Array, format: Exclude<ReferenceFormat, 'wav'>): Promise<Decoded> {
  let decoder: WasmDecoder & { decode?: (b: Uint8Array) => Decoded | Promise<Decoded>; decodeFile?: (b: Uint8Array) => Promise<Decoded> };
  switch (format) {
    case 'mp3':
      decoder = new (await import('mpg123-decoder')).MPEGDecoder();
      break;
    case 'flac':
      decoder = new (await import('@wasm-audio-decoders/flac')).FLACDecoder();
      break;
    case 'ogg_vorbis':
      decoder = new (await import('@wasm-audio-decoders/ogg-vorbis')).OggVorbisDecoder();
      break;
    case 'ogg_opus':
      decoder = new (await import('ogg-opus-decoder')).OggOpusDecoder();
      break;
  }
  await decoder.ready;
  try {
    return decoder.decodeFile ? await decoder.decodeFile(bytes) : await decoder.decode!(bytes);
  } finally {
    decoder.free();
  }
}

/** Averages channels into one and converts to 16-bit. */
function downmix(channels: readonly Float32Array[], length: number): Int16Array {
  const out = new Int16Array(length);
  const n = channels.length;
  for (let i = 0; i < length; i++) {
    let sum = 0;
    for (let c = 0; c < n; c++) sum += channels[c]![i] ?? 0;
    const v = Math.round((sum / n) * 32767);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

export interface ReferenceLimits {
  readonly minSeconds: number;
  readonly maxSeconds: number;
  /** Rate of the normalized clip. */
  readonly sampleRate: number;
}

export interface NormalizedReference {
  readonly format: ReferenceFormat;
  /** Mono 16-bit at limits.sampleRate. */
  readonly pcm: Pcm;
  readonly sourceSampleRate: number;
  readonly durationSeconds: number;
}

/** Below this RMS (16-bit units, about −60 dBFS) a clip holds no voice to clone. */
const SILENCE_RMS = 33;

/**
 * Decodes and validates an uploaded clip; throws VoiceError (unsupported_audio,
 * invalid_audio, audio_too_short, audio_too_long, audio_silent).
 */
export async function normalizeReference(bytes: Uint8Array, limits: ReferenceLimits): Promise<NormalizedReference> {
  const format = sniffAudio(bytes.subarray(0, SNIFF_BYTES));
  if (!format) throw new VoiceError(415, 'unsupported_audio', 'the audio file is not WAV, MP3, FLAC or Ogg (Vorbis or Opus) audio', 'audio');
  let mono: Pcm;
  try {
    if (format === 'wav') mono = decodeWav(bytes);
    else {
      const decoded = await decodeCompressed(bytes, format);
      if (decoded.samplesDecoded === 0 || decoded.channelData.length === 0) throw new AudioFormatError('truncated', 'no audio frames decoded');
      mono = { samples: downmix(decoded.channelData, decoded.samplesDecoded), sampleRate: decoded.sampleRate };
    }
  } catch (err) {
    if (err instanceof VoiceError) throw err;
    throw new VoiceError(400, 'invalid_audio', `the ${format.replace('_', ' ')} file does not decode: ${(err as Error).message}`, 'audio');
  }
  if (!(mono.sampleRate > 0)) throw new VoiceError(400, 'invalid_audio', 'the audio file names no sample rate', 'audio');
  const durationSeconds = mono.samples.length / mono.sampleRate;
  if (durationSeconds < limits.minSeconds) {
    throw new VoiceError(400, 'audio_too_short', `the clip is ${durationSeconds.toFixed(1)} s; a reference needs at least ${limits.minSeconds} s of speech`, 'audio');
  }
  if (durationSeconds > limits.maxSeconds) {
    throw new VoiceError(400, 'audio_too_long', `the clip is ${durationSeconds.toFixed(1)} s; a reference may be at most ${limits.maxSeconds} s (trim it to the best ${Math.min(limits.maxSeconds, 15)} s)`, 'audio');
  }
  let energy = 0;
  for (let i = 0; i < mono.samples.length; i++) energy += mono.samples[i]! * mono.samples[i]!;
  if (Math.sqrt(energy / mono.samples.length) < SILENCE_RMS) throw new VoiceError(400, 'audio_silent', 'the clip is silent: there is no voice in it to clone', 'audio');
  let samples = mono.samples;
  if (mono.sampleRate !== limits.sampleRate) {
    const resampler = createResampler(mono.sampleRate, limits.sampleRate);
    samples = concatSamples([resampler.process(mono.samples), resampler.flush()]);
  }
  return { format, pcm: { samples, sampleRate: limits.sampleRate }, sourceSampleRate: mono.sampleRate, durationSeconds };
}
