import { VoicegateError, type VoiceLibraryErrorCode } from '../errors.ts';

/**
 * Why a voice-library request failed: an HTTP status and a stable `code` for clients
 * (docs/voices.md lists them; src/errors.ts owns them), with a message that says what to do.
 */
export type VoiceErrorCode = VoiceLibraryErrorCode;

export class VoiceError extends VoicegateError<VoiceErrorCode> {
  constructor(
    readonly status: number,
    code: VoiceErrorCode,
    message: string,
    /** The form field at fault, when one is. */
    readonly param: string | null = null,
  ) {
    super(code, message);
  }
}
