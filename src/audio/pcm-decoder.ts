/**
 * Decoders for raw (headerless) audio streams, e.g. an OpenAI-compatible server answering
 * `response_format: "pcm"` (s16le, usually 24 kHz), or EncodedAudio in a non-output format.
 */
import type { Encoding, Pcm } from './format.ts';
import { FrameAssembler, type SampleLayout } from './samples.ts';

/** Incremental raw PCM decoder: byte chunks in, Pcm out; partial samples carry over. */
export interface PcmStreamDecoder {
  /** Decodes the whole samples available; null when the chunk completed none. */
  push(bytes: Uint8Array): Pcm | null;
  /**
   * End of stream. Raw streams have no trailing samples to flush, so this returns null;
   * an incomplete trailing sample (odd byte count for s16le) is dropped.
   */
  end(): Pcm | null;
  /** Forgets a partial sample (the stream was cancelled). */
  reset(): void;
}

export function layoutOf(encoding: Encoding, channels = 1): SampleLayout {
  switch (encoding) {
    case 'pcm_s16le':
      return { kind: 'int', bytesPerSample: 2, channels };
    case 'pcm_f32le':
      return { kind: 'float', bytesPerSample: 4, channels };
    case 'pcm_mulaw':
      return { kind: 'mulaw', bytesPerSample: 1, channels };
    case 'pcm_alaw':
      return { kind: 'alaw', bytesPerSample: 1, channels };
  }
}

/** Raw stream decoder for any of the gateway's encodings (mono, little-endian). */
export function createPcmDecoder(encoding: Encoding, sampleRate: number): PcmStreamDecoder {
  const assembler = new FrameAssembler(layoutOf(encoding));
  return {
    push(bytes) {
      const samples = assembler.push(bytes);
      return samples === null ? null : { samples, sampleRate };
    },
    end() {
      assembler.discardPartial();
      return null;
    },
    reset() {
      assembler.discardPartial();
    },
  };
}

/** Raw signed 16-bit little-endian mono stream decoder (odd byte counts carry across pushes). */
export function createPcmS16Decoder(sampleRate: number): PcmStreamDecoder {
  return createPcmDecoder('pcm_s16le', sampleRate);
}

/**
 * One-shot decode of whole samples in `encoding` (trailing partial sample ignored), for
 * whole buffers (tests and tools); streams go through createPcmDecoder.
 */
export function decodeToPcm(encoding: Encoding, sampleRate: number, bytes: Uint8Array): Pcm {
  const assembler = new FrameAssembler(layoutOf(encoding));
  const samples = assembler.push(bytes) ?? new Int16Array(0);
  return { samples, sampleRate };
}

