/** `pcm`: raw signed 16-bit little-endian mono, no header (OpenAI's pcm at the stream's rate). */
import { LITTLE_ENDIAN } from '../samples.ts';
import { EMPTY, type AudioEncoder, type EncoderOptions } from './encoder.ts';

/** Copies samples out as s16le bytes (a copy: the caller may reuse its buffer). */
export function s16leBytes(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength));
    return out;
  }
  for (let i = 0; i < samples.length; i++) {
    out[2 * i] = samples[i]!;
    out[2 * i + 1] = samples[i]! >> 8;
  }
  return out;
}

export class PcmEncoder implements AudioEncoder {
  readonly format = 'pcm';
  readonly contentType = 'audio/pcm';

  constructor(_options: EncoderOptions) {}

  encode(samples: Int16Array): Uint8Array {
    return samples.length === 0 ? EMPTY : s16leBytes(samples);
  }
  flush(): Uint8Array {
    return EMPTY;
  }
  end(): Uint8Array {
    return EMPTY;
  }
  discard(): void {}
  close(): void {}
}
