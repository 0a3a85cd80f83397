/** Why audio bytes could not be understood. */
export type AudioFormatErrorCode =
  | 'not_wav' // the stream does not start with RIFF/WAVE (or RIFX, big-endian, which we do not read)
  | 'bad_header' // a RIFF chunk is malformed (fmt too short, zero channels, size missing where needed)
  | 'unsupported_format' // a WAV codec or bit depth we do not decode
  | 'unsupported_rate' // a sample rate outside what the component accepts
  | 'truncated'; // the stream ended inside a header

/** Typed error for undecodable or unsupported audio input (backend output, WAV files). */
export class AudioFormatError extends Error {
  override readonly name = 'AudioFormatError';
  constructor(
    readonly code: AudioFormatErrorCode,
    message: string,
  ) {
    super(message);
  }
}
