/**
 * The backend adapter contract (DESIGN.md §3). One Backend object per upstream instance
 * (one GPU server URL, one embedded worker, one Cartesia account).
 *
 * Adapters decode whatever their server sends (raw PCM, WAV with or without sizes,
 * Gradio file outputs, base64 JSON) into BackendAudio chunks, yielded as they arrive.
 */
import type { BackendAudio, OutputFormat } from '../audio/format.ts';
import { VoicegateError, type BackendErrorCode } from '../errors.ts';

export type { BackendErrorCode };

export interface SynthesisRequest {
  readonly text: string;
  readonly voice: string;
  readonly language?: string;
  readonly speed?: number;
  /**
   * Style instructions (OpenAI's `instructions`, e.g. "speak calmly"), set only when the caller
   * gave some. Backends whose API takes them pass them on (instructionsPassed in index.ts says
   * which); every other backend ignores them.
   */
  readonly instructions?: string;
  /**
   * The caller's negotiated format. A backend that can produce it natively (Cartesia) may
   * yield EncodedAudio in exactly this encoding and rate; every other backend ignores it.
   */
  readonly output?: OutputFormat;
  /**
   * The reference of a library voice (src/voices), set only for backends whose cloning mode is
   * `reference`: they send it with the request instead of a voice the server holds.
   */
  readonly reference?: VoiceReference;
}

/** A library voice as a server needs it to clone it (src/voices keeps these). */
export interface VoiceReference {
  /** Library id: the name it is registered under on servers and requested by. */
  readonly id: string;
  /** The uploader's display name. */
  readonly name: string;
  /** The normalized reference clip: a mono 16-bit PCM WAV file. */
  readonly wav: Uint8Array;
  /** Transcript of the clip, when given (enables in-context cloning on Qwen3-TTS). */
  readonly refText?: string;
  readonly language?: string;
  /** Consent id (vLLM-Omni requires one per uploaded voice). */
  readonly consent: string;
}

/**
 * How a backend learns a cloned voice (an optional adapter capability; a backend without it
 * cannot clone, and uploads for its pool are refused).
 * - `upload`: the server keeps voices: register once per instance (and again after it restarts),
 *   then request it by id.
 * - `reference`: the server keeps nothing: the reference travels with every request.
 */
export interface VoiceCloning {
  readonly mode: 'upload' | 'reference';
  /** Names of the voices the server holds now (upload mode). Throws BackendError. */
  listVoices(signal: AbortSignal): Promise<string[]>;
  /** Registers `voice` under `voice.id` (upload mode; idempotent). Throws BackendError. */
  registerVoice(voice: VoiceReference, signal: AbortSignal): Promise<void>;
  /** Removes a registered voice (upload mode; a voice the server lacks is not an error). Throws BackendError. */
  removeVoice(id: string, signal: AbortSignal): Promise<void>;
}

/** The voices of a server: `has` applies the server's own matching (espeak: case, variants). */
export interface VoiceList {
  /** The names to show an operator (not every alias the server accepts). */
  readonly voices: readonly string[];
  has(voice: string): boolean;
}

export interface Backend {
  /** Protocol name, e.g. `openai`, `gradio`, `cartesia`, `espeak`. */
  readonly protocol: string;
  /**
   * Streams audio for one segment. Aborting `signal` must really close the upstream request
   * (HTTP request destroyed, Cartesia context cancelled) so the GPU slot frees at once.
   * Errors are thrown as BackendError.
   */
  synthesize(req: SynthesisRequest, signal: AbortSignal): AsyncIterable<BackendAudio>;
  /** Health probe: resolves when healthy, throws BackendError otherwise. */
  check(signal: AbortSignal): Promise<void>;
  /**
   * Optional: the voices the server speaks, for the start-up check (src/backends/voice-check.ts).
   * null: this server cannot be asked (no such endpoint). Throws BackendError when unreachable.
   */
  listVoices?(signal: AbortSignal): Promise<VoiceList | null>;
  /** Releases connections and workers. */
  close(): Promise<void>;
  /**
   * Resolves once the backend serves without a cold start (the embedded engine: its worker
   * thread compiled and warm). Optional: a remote server has nothing to warm here. The gateway's
   * /ready answers 503 until every backend's has resolved. Never rejects: a backend that failed
   * to start resolves and then fails its health checks.
   */
  whenWarm?(): Promise<void>;
  /** Present when the server can clone voices from a reference clip (src/voices). */
  readonly cloning?: VoiceCloning;
}

export interface BackendErrorDetails {
  readonly cause?: unknown;
  /** The server's Retry-After, in ms, when it said one (429/503). */
  readonly retryAfterMs?: number;
  /**
   * The server said it is at capacity in its own words, under a status that does not (placement
   * then treats it as a 429). No adapter sets it yet: Cartesia's concurrency limit is a 429.
   */
  readonly overflow?: boolean;
  /** Which deadline expired, for code `timeout` raised by backends/deadline.ts. */
  readonly deadline?: 'first_audio' | 'stall';
}

/**
 * A backend request failed. `code` decides failover and is the `kind` label of
 * voicegate_backend_errors_total; `retryable`: whether trying the same text elsewhere could
 * succeed (a 4xx on our input would not, and neither would our own cancel).
 */
export class BackendError extends VoicegateError<BackendErrorCode> {
  declare readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly overflow: boolean;
  readonly deadline: 'first_audio' | 'stall' | undefined;
  constructor(
    code: BackendErrorCode,
    message: string,
    readonly status?: number,
    details?: BackendErrorDetails,
  ) {
    super(code, message, { cause: details?.cause, retryable: code !== 'http_4xx' && code !== 'aborted' });
    this.retryAfterMs = details?.retryAfterMs;
    this.overflow = details?.overflow ?? false;
    this.deadline = details?.deadline;
  }
}

export function isBackendError(err: unknown): err is BackendError {
  return err instanceof BackendError;
}

/**
 * `promise`, or a rejection with `abortError()` as soon as `signal` aborts (at once when it
 * already has). The work behind the promise is not stopped: its result is dropped.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, abortError: () => Error): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {}); // its outcome no longer matters, and must not go unhandled
    return Promise.reject(abortError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
