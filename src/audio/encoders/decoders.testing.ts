/**
 * Real decoders from npm for each encoder format (tests only): mpg123 (mpg123-decoder),
 * libopus behind an Ogg demuxer (ogg-opus-decoder), libFLAC (@wasm-audio-decoders/flac), and
 * voicegate's own WAV parser. Each returns mono float samples and their rate.
 */
import { FLACDecoder } from '@wasm-audio-decoders/flac';
import { MPEGDecoder } from 'mpg123-decoder';
import { OggOpusDecoder } from 'ogg-opus-decoder';
import { decodeWav } from '../wav.ts';
import type { EncoderFormat } from './encoder.ts';

export interface Decoded {
  readonly samples: Float32Array;
  readonly sampleRate: number;
  /** Errors the decoder reported (corrupt frames); empty for a clean stream. */
  readonly errors: readonly unknown[];
}

function int16ToFloat(samples: Int16Array): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i]! / 32768;
  return out;
}

/** Decodes a whole stream of `format` (`rate`: the stream's rate, for headerless pcm). */
export async function decodeAudio(format: EncoderFormat, bytes: Uint8Array, rate: number): Promise<Decoded> {
  switch (format) {
    case 'pcm': {
      const copy = new Int16Array(bytes.length >> 1);
      new Uint8Array(copy.buffer).set(bytes.subarray(0, copy.length * 2));
      return { samples: int16ToFloat(copy), sampleRate: rate, errors: [] };
    }
    case 'wav': {
      const pcm = decodeWav(bytes);
      return { samples: int16ToFloat(pcm.samples), sampleRate: pcm.sampleRate, errors: [] };
    }
    case 'mp3': {
      const decoder = new MPEGDecoder();
      await decoder.ready;
      try {
        const r = decoder.decode(bytes);
        return { samples: r.channelData[0] ?? new Float32Array(0), sampleRate: r.sampleRate || rate, errors: r.errors };
      } finally {
        decoder.free();
      }
    }
    case 'opus': {
      const decoder = new OggOpusDecoder();
      await decoder.ready;
      try {
        const r = await decoder.decodeFile(bytes);
        return { samples: r.channelData[0] ?? new Float32Array(0), sampleRate: r.sampleRate || 48000, errors: r.errors };
      } finally {
        decoder.free();
      }
    }
    case 'flac': {
      const decoder = new FLACDecoder();
      await decoder.ready;
      try {
        const r = await decoder.decodeFile(bytes);
        return { samples: r.channelData[0] ?? new Float32Array(0), sampleRate: r.sampleRate || rate, errors: r.errors };
      } finally {
        decoder.free();
      }
    }
  }
}

/** Root mean square of float samples [from, to). */
export function rmsOf(samples: Float32Array, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i]! * samples[i]!;
  return to > from ? Math.sqrt(sum / (to - from)) : 0;
}
