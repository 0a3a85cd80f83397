/**
 * Why a voice-library request failed: an HTTP status and a stable `code` for clients
 * (docs/voices.md lists them), with a message that says what to do.
 */
export type VoiceErrorCode =
  | 'missing_field' // name (or the audio file) absent
  | 'invalid_field' // a field too long or malformed
  | 'not_multipart' // the body is not multipart/form-data
  | 'file_too_large' // over voices.max_upload_bytes
  | 'unsupported_audio' // not WAV, MP3, FLAC or Ogg (Vorbis/Opus)
  | 'invalid_audio' // looked like audio but does not decode
  | 'audio_too_short'
  | 'audio_too_long'
  | 'audio_silent'
  | 'unknown_pool'
  | 'pool_cannot_clone'
  | 'duplicate_name'
  | 'voice_not_found'
  | 'rejected_by_backend' // every instance of the pool refused the reference
  | 'storage_failed';

export class VoiceError extends Error {
  override readonly name = 'VoiceError';
  constructor(
    readonly status: number,
    readonly code: VoiceErrorCode,
    message: string,
    /** The form field at fault, when one is. */
    readonly param: string | null = null,
  ) {
    super(message);
  }
}
