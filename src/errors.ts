/**
 * The one base class of voicegate's errors and the one list of their codes (docs/errors.md).
 *
 * Every error voicegate throws on purpose is a VoicegateError: a stable lower_snake `code` to
 * switch on (messages change, codes do not), `retryable` where a caller decides on it, and the
 * cause through ErrorOptions. `instanceof` checks a brand rather than the prototype chain
 * (undici's lib/core/errors.js does the same): an application that ends up with two copies of
 * this module (two installed versions, or one loaded as ESM and one through a loader) still
 * recognises the other copy's errors.
 *
 * Codes are internal except where a group says it is a wire contract: those are what clients of
 * the native protocol and of the voice library see, and never change. The drop-in front ends
 * (Cartesia, ElevenLabs, Deepgram, OpenAI) answer in their providers' codes, which their codecs
 * in src/protocol/ map from these.
 *
 * This module imports nothing, so any module may import it without a cycle.
 */

/** Configuration that cannot run: main.ts exits 2 with one line. */
export type ConfigErrorCode =
  | 'config_invalid' // the file or environment fails the schema, or is not YAML
  | 'voice_unknown'; // a pool lists a voice its servers do not have (backends/voice-check.ts)

/** Fleet construction and membership (src/routing). */
export type RoutingErrorCode =
  | 'unknown_pool' // no pool has that name
  | 'unknown_instance' // the instance does not belong to the pool
  | 'too_many_instances' // over the ring's member limit
  | 'duplicate_instance' // an instance id already in the pool
  | 'duplicate_pool' // two pools with one name
  | 'no_instances' // a pool (or the fleet) with nothing to route to
  | 'discovery_timeout'; // a DNS resolution took longer than discovery's timeout

/**
 * A backend request failed (src/backends). Also the `kind` label of
 * voicegate_backend_errors_total, so the set is bounded and the values stay.
 */
export type BackendErrorCode =
  | 'connect' // could not reach the server (refused, DNS, reset before response)
  | 'timeout' // connect / first-audio / stall timeout
  | 'http_4xx' // the server refused the request (bad voice, bad model)
  | 'http_429' // rate limited / over capacity
  | 'http_5xx' // server error, 503 queue full
  | 'protocol' // the server answered something we cannot decode
  | 'closed' // the stream ended early (died mid-stream)
  | 'aborted'; // we cancelled it: not a fault of the backend

/** The embedded espeak-ng engine (backends/espeak-engine.ts); backends/espeak.ts maps them to BackendErrorCode. */
export type EspeakErrorCode =
  | 'espeak_bad_voice' // a voice name espeak's -v would not take
  | 'espeak_failed' // the worker reported a failure or crashed
  | 'espeak_closed' // the worker is closed or exited
  | 'espeak_aborted' // the request's signal aborted
  | 'espeak_timeout'; // still running past the deadline: the worker was restarted

/** Audio that cannot be decoded or produced (src/audio). */
export type AudioErrorCode =
  | 'not_wav' // the stream does not start with RIFF/WAVE (or RIFX, big-endian, which we do not read)
  | 'bad_header' // a RIFF chunk is malformed (fmt too short, zero channels, size missing where needed)
  | 'unsupported_format' // a WAV codec or bit depth we do not decode
  | 'unsupported_rate' // a sample rate outside what the component accepts
  | 'truncated' // the stream ended inside a header
  | 'unsupported_encoder_input' // a format, sample rate or bit rate an encoder (mp3, opus, flac) cannot take
  | 'encoder_failed'; // an encoder could not start, ran out of memory, or was used after end()

/** Segmenter options out of range (src/text). */
export type TextErrorCode = 'invalid_segmenter_options';

/**
 * Why a session cannot start (session/factory.ts, protocol/voice-map.ts): protocol-neutral;
 * each front end's codec maps them to its wire shape. The native protocol sends them as is.
 */
export type SessionStartErrorCode =
  | 'unknown_voice' // the voice is in no pool (nor mapped by a compat voice_map)
  | 'at_capacity' // every GPU of the pool is busy with calls waiting, and server.admission is refuse
  | 'no_capacity'; // no instance can take the session and no fallback is configured

/**
 * What the session reports to its front end while it runs (SessionSink.error in
 * session/session.ts): protocol-neutral like SessionStartErrorCode, and sent as is on the
 * native protocol.
 */
export type SessionReportCode =
  | 'synthesis_failed' // a provider refused a segment's input (no other would take it either)
  | 'fleet_saturated' // once per turn: segments not spoken, every provider full for session.max_wait_ms
  | 'turn_too_long' // buffered text over session.max_turn_chars
  | 'shutting_down'; // after the draining notice: a new turn that could not be sent whole by the deadline

/** Why this process refuses a new session or connection (server/admission.ts); sent as is on the native protocol. */
export type AdmissionRefusalCode =
  | 'shutting_down' // the gateway is draining
  | 'at_capacity' // this process has server.max_sessions sessions
  | 'overloaded'; // this process's event loop lags (server.refuse_when_lagging)

/** Wire contract: `code` of the native protocol's `{"type":"error"}` (docs/protocol.md). */
export type NativeProtocolErrorCode =
  | SessionStartErrorCode
  | SessionReportCode
  | AdmissionRefusalCode
  | 'invalid_json' // the frame is not JSON
  | 'invalid_message' // JSON, but not an object with the fields its type needs
  | 'unknown_type' // `type` is not a client message type
  | 'binary_not_supported' // binary frames carry nothing from the client
  | 'message_too_large' // over session.max_message_bytes
  | 'not_started' // text/flush/cancel/mark before start
  | 'already_started' // a second start
  | 'unsupported_format' // encoding or sample_rate not offered
  | 'client_too_slow' // the client does not read: past session.max_queued_turns / max_pending_marks / max_held_bytes (fatal, 1008)
  | 'unauthorized' // missing or wrong API key (at upgrade)
  | 'invalid_session_id' // ?session_id= over SESSION_ID_MAX characters (at upgrade)
  | 'start_timeout'; // no `start` within session.start_timeout_ms of the upgrade

/** Wire contract: `error.code` of the voice library's HTTP API (docs/voices.md). */
export type VoiceLibraryErrorCode =
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

/** Several gateway processes (src/cluster). */
export type ClusterErrorCode =
  | 'redis_unavailable' // Redis is down, or a command failed or was too slow: the caller falls back to local state
  | 'ipc_closed' // the channel to the primary or a worker closed
  | 'ipc_timeout'; // an IPC request got no answer in time

/**
 * The drop-in front ends' wire errors (src/protocol/{cartesia,elevenlabs,deepgram,openai}.ts):
 * one code per provider; the provider's own code is the error's `wireCode`.
 */
export type CompatErrorCode = 'cartesia_error' | 'elevenlabs_error' | 'deepgram_error' | 'openai_error';

export type VoicegateErrorCode =
  | ConfigErrorCode
  | RoutingErrorCode
  | BackendErrorCode
  | EspeakErrorCode
  | AudioErrorCode
  | TextErrorCode
  | NativeProtocolErrorCode
  | VoiceLibraryErrorCode
  | ClusterErrorCode
  | CompatErrorCode;

export interface VoicegateErrorOptions extends ErrorOptions {
  /** Whether trying again (later, or elsewhere) could succeed; absent where no caller decides on it. */
  readonly retryable?: boolean;
}

/** The brand: the names of an error's classes, its own first, up to VoicegateError. */
const kBrand = Symbol.for('voicegate.error');

/**
 * The names of `prototype`'s classes, cached per class. A class's name is its brand, so every
 * subclass of VoicegateError needs a name no other one has (errors.test.ts checks this).
 */
const brands = new WeakMap<object, readonly string[]>();
function brandOf(prototype: object): readonly string[] {
  let names = brands.get(prototype);
  if (names === undefined) {
    const chain: string[] = [];
    for (let p: object | null = prototype; p !== null && p !== Error.prototype; p = Object.getPrototypeOf(p) as object | null) {
      chain.push((p as { constructor: { name: string } }).constructor.name);
    }
    names = Object.freeze(chain);
    brands.set(prototype, names);
  }
  return names;
}

export class VoicegateError<Code extends VoicegateErrorCode = VoicegateErrorCode> extends Error {
  readonly code: Code;
  declare readonly retryable?: boolean;

  constructor(code: Code, message: string, options?: VoicegateErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options?.retryable !== undefined) this.retryable = options.retryable;
  }

  get [kBrand](): readonly string[] {
    return brandOf(Object.getPrototypeOf(this) as object);
  }

  /**
   * `err instanceof RoutingError` holds for a RoutingError of any copy of this module: it asks
   * the brand, not the prototype chain. Inherited by every subclass (`this` is the class asked).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const names = (value as { [kBrand]?: unknown })[kBrand];
    return Array.isArray(names) && names.includes(this.name);
  }
}
