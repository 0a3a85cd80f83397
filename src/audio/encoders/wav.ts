/**
 * `wav`: a streaming WAV, s16le mono. The sizes in the header are unknown when it is sent, so
 * they are 0xFFFFFFFF (what ffmpeg and most players read as "until the end of the stream").
 */
import { wavHeader } from '../wav.ts';
import { concatBytes, type AudioEncoder, type EncoderOptions } from './encoder.ts';
import { s16leBytes } from './pcm.ts';

export class WavEncoder implements AudioEncoder {
  readonly format = 'wav';
  readonly contentType = 'audio/wav';
  private readonly sampleRate: number;
  private headerSent = false;

  constructor(options: EncoderOptions) {
    this.sampleRate = options.sampleRate;
  }

  private header(): Uint8Array[] {
    if (this.headerSent) return [];
    this.headerSent = true;
    return [wavHeader(this.sampleRate, 'pcm_s16le', null)];
  }

  encode(samples: Int16Array): Uint8Array {
    return concatBytes([...this.header(), ...(samples.length > 0 ? [s16leBytes(samples)] : [])]);
  }
  flush(): Uint8Array {
    return concatBytes(this.header());
  }
  end(): Uint8Array {
    return concatBytes(this.header());
  }
  discard(): void {}
  close(): void {}
}
