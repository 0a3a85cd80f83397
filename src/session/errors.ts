/**
 * Why a session cannot start, in no protocol's terms: SessionFactory.create and the compat
 * voice maps throw it; each front end's codec maps it to its wire shape (native: the same code;
 * Cartesia, ElevenLabs, Deepgram, OpenAI: their `fromVoicegateError`/status tables).
 */
import { VoicegateError, type SessionStartErrorCode } from '../errors.ts';

export class SessionStartError extends VoicegateError<SessionStartErrorCode> {
  constructor(code: SessionStartErrorCode, message: string) {
    // Capacity frees up (shortly, or on another replica); an unknown voice stays unknown.
    super(code, message, { retryable: code !== 'unknown_voice' });
  }
}
