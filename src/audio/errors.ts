import { VoicegateError, type AudioErrorCode } from '../errors.ts';

/** Why audio bytes could not be understood (codes: AudioErrorCode in src/errors.ts). */
export type AudioFormatErrorCode = Exclude<AudioErrorCode, 'unsupported_encoder_input' | 'encoder_failed'>;

/** Typed error for undecodable or unsupported audio input (backend output, WAV files). */
export class AudioFormatError extends VoicegateError<AudioFormatErrorCode> {}
