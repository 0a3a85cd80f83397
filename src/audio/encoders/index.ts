/** createEncoder: the encoder of a format (encoder.ts has the contract). */
import { EncoderError, type AudioEncoder, type EncoderFormat, type EncoderOptions } from './encoder.ts';
import { FlacEncoder } from './flac.ts';
import { Mp3Encoder, preloadMp3 } from './mp3.ts';
import { OpusEncoder, preloadOpus } from './opus.ts';
import { PcmEncoder } from './pcm.ts';
import { WavEncoder } from './wav.ts';

export * from './encoder.ts';

export function createEncoder(format: EncoderFormat, options: EncoderOptions): AudioEncoder {
  switch (format) {
    case 'mp3':
      return new Mp3Encoder(options);
    case 'opus':
      return new OpusEncoder(options);
    case 'flac':
      return new FlacEncoder(options);
    case 'wav':
      return new WavEncoder(options);
    case 'pcm':
      return new PcmEncoder(options);
    default:
      throw new EncoderError('unsupported_encoder_input', `no encoder for ${String(format)}`);
  }
}

/** Loads the codec libraries now, so the first request of each format does not wait for them. */
export function preloadEncoders(): void {
  preloadMp3();
  preloadOpus();
}
