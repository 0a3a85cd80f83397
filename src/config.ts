/**
 * The whole configuration: one zod schema, every default declared here and nowhere else.
 * Sources, weakest first: the schema's defaults, the YAML file (VOICEGATE_CONFIG or
 * config/default.yaml), then environment variables (DESIGN.md §5).
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ENCODINGS, SAMPLE_RATES } from './audio/format.ts';
import { VoicegateError } from './errors.ts';
import { defaultVoiceAliases } from './session/voices.ts';

const HealthSchema = z
  .object({
    /** HTTP path probed on each instance (GET, 2xx = pass). */
    path: z.string().default('/health'),
    /** Probe period. With fall 2 a dead instance is found within ~2 s. */
    interval_ms: z.number().int().positive().default(1000),
    /** A probe slower than this fails. */
    timeout_ms: z.number().int().positive().default(800),
    /** Consecutive passes that bring an instance up. */
    rise: z.number().int().positive().default(2),
    /** Consecutive fails that take it down. */
    fall: z.number().int().positive().default(2),
    /** Consecutive failures of real traffic that eject an instance (passive check). */
    eject_after: z.number().int().positive().default(3),
    /** First ejection length; doubles on each repeat up to eject_max_ms. */
    eject_base_ms: z.number().int().positive().default(5000),
    eject_max_ms: z.number().int().positive().default(60_000),
  })
  .prefault({});

const TimeoutsSchema = z
  .object({
    /** TCP/TLS connect to an instance. */
    connect_ms: z.number().int().positive().default(1000),
    /** Request sent → first audio. Past it the segment moves on (failover). */
    first_audio_ms: z.number().int().positive().default(1500),
    /** Longest gap between two audio chunks of an unfinished segment. */
    stall_ms: z.number().int().positive().default(2000),
  })
  .prefault({});

const InstanceSchema = z.object({
  /** Stable id; derived from the URL when omitted. */
  id: z.string().min(1).optional(),
  /** Base URL of the server (http://host:port); for the embedded engine, omitted. */
  url: z.string().min(1).optional(),
  /** Relative share of sessions. */
  weight: z.number().positive().default(1),
  /** Synthesis streams this GPU takes at most (a GPU takes 2–4 comfortably, 5–6 at most). */
  max_concurrency: z.number().int().positive().default(4),
});

/**
 * How many streams each instance takes (docs/routing.md, "Adaptive capacity"): `fixed` =
 * max_concurrency; `adaptive` = a limit between `min` and `max` learned from the instance's time
 * to first audio (src/routing/adaptive-limit.ts).
 */
const CapacitySchema = z
  .object({
    mode: z.enum(['fixed', 'adaptive']).default('fixed'),
    /** First audio above this shrinks the limit. 0 = 1.5 × the instance's measured unloaded first audio. */
    target_first_audio_ms: z.number().int().min(0).default(0),
    /** The limit never goes below this. */
    min: z.number().int().positive().default(1),
    /** The limit never goes above this (and never above max_concurrency). Default: max_concurrency. */
    max: z.number().int().positive().optional(),
  })
  .prefault({});

const BACKENDS = ['openai', 'gradio', 'espeak', 'cartesia'] as const;

/**
 * DNS-based instance discovery (src/routing/discovery.ts, docs/deploy.md): a name resolving to
 * one address per GPU server (a Kubernetes headless Service), re-resolved periodically;
 * addresses that appear join the pool's ring, addresses that vanish leave it.
 */
const DiscoverySchema = z.object({
  /** Hostname to resolve, e.g. tts-gpu.default.svc.cluster.local. */
  dns: z.string().min(1),
  /** Port of the TTS server on every address. */
  port: z.number().int().min(1).max(65535),
  /** URL scheme of the instances. */
  scheme: z.enum(['http', 'https']).default('http'),
  /** Re-resolution period. */
  interval_ms: z.number().int().positive().default(10_000),
  /** Address families asked for: any (A and AAAA), ipv4, ipv6. */
  family: z.enum(['any', 'ipv4', 'ipv6']).default('any'),
  /** Weight of every discovered instance. */
  weight: z.number().positive().default(1),
  /** max_concurrency of every discovered instance. */
  max_concurrency: z.number().int().positive().default(4),
});

/**
 * The Cartesia-Version header sent when none is configured (fallback.version and a cartesia
 * pool's options.version): the API version the adapter's messages are written against.
 */
export const CARTESIA_VERSION = '2025-04-16';

/** `pools[].options` for backend openai (src/backends/openai.ts). */
export const OpenAIOptionsSchema = z
  .object({
    /** `pcm` (raw s16le at `sample_rate`) or `wav` (streamed WAV, sizes may be unknown). Default `pcm`. */
    response_format: z.enum(['pcm', 'wav']).default('pcm'),
    /** Sample rate of `pcm` responses (OpenAI and Kokoro-FastAPI: 24 000). Ignored for wav. */
    sample_rate: z.number().int().positive().default(24_000),
    /** Sent as `Authorization: Bearer <api_key>` when non-empty. Default none. */
    api_key: z.string().default(''),
    /** Speech path under the instance URL. Default `/v1/audio/speech`. */
    path: z.string().default('/v1/audio/speech'),
    /**
     * Extra JSON body fields merged into every request, e.g. `{stream: true}` (Kokoro-FastAPI,
     * ChatTTS), `{lang_code: "a"}`, `{normalization_options: {...}}`. OpenAI itself rejects
     * unknown fields, so none are sent by default.
     */
    extra_body: z.record(z.string(), z.unknown()).default({}),
    /** Extra request headers. Default none. */
    headers: z.record(z.string(), z.string()).default({}),
    /** Send the request's speed (OpenAI `speed`) when it is set. Default true. */
    send_speed: z.boolean().default(true),
    /**
     * Send the caller's style instructions (OpenAI `instructions`: gpt-4o-mini-tts, Qwen3-TTS
     * front ends) when it gave some. Turn off for a server that refuses the field. Default true.
     */
    send_instructions: z.boolean().default(true),
    /**
     * How the server learns a cloned voice from the voice library (docs/voices.md): `none`
     * (it cannot: uploads for this pool are refused), `upload` (vLLM-Omni's voice API,
     * registered once per instance) or `reference` (`ref_audio` + `ref_text` in every request).
     * Default `none`.
     */
    voice_cloning: z.enum(['none', 'upload', 'reference']).default('none'),
    /**
     * Where the server lists (and, in `upload` mode, takes) its voices: listed once at start-up
     * to check the pool's voices (src/backends/voice-check.ts); a server without it (404) is not
     * checked. Default `/v1/audio/voices` (Kokoro-FastAPI, vLLM-Omni).
     */
    voices_path: z.string().default('/v1/audio/voices'),
  })
  .strict();

/** `pools[].options` for backend gradio (src/backends/gradio.ts). */
export const GradioOptionsSchema = z
  .object({
    /** Endpoint name without the slash. Default `generate_first` (hexgrad Space; `predict` is its CPU-only twin). */
    api_name: z.string().min(1).default('generate_first'),
    /** `auto` (read `api_prefix` from /config once), `/gradio_api` (Gradio 5+) or `` (Gradio 4). Default `auto`. */
    api_prefix: z.string().default('auto'),
    /** Hugging Face token for private Spaces, sent as `Authorization: Bearer`. Default none. */
    hf_token: z.string().default(''),
    /**
     * Positional inputs; the strings `$text`, `$voice`, `$speed`, `$language`, `$instructions`
     * are replaced by the request's values (`$instructions`: the caller's style instructions, or
     * "" without). Default `["$text", "$voice", "$speed", true]` (generate_first: text, voice,
     * speed, use_gpu).
     */
    inputs: z.array(z.unknown()).default(['$text', '$voice', '$speed', true]),
    /** Which output holds the audio FileData. Default 0. */
    output_index: z.number().int().min(0).default(0),
    /** Path probed by check(); Gradio apps serve /config, not /health. Default `/config`. */
    health_path: z.string().default('/config'),
  })
  .strict();

/** `pools[].options` for backend espeak (the embedded engine, src/backends/espeak.ts). */
export const EspeakOptionsSchema = z
  .object({
    /**
     * espeak-ng returns a whole utterance at once; it is handed on in chunks of this many ms so
     * the output path streams (and a cancel stops between chunks). Default 200.
     */
    chunk_ms: z.number().int().positive().default(200),
  })
  .strict();

/**
 * `pools[].options` for backend cartesia: a Cartesia account used as a pool rather than as the
 * fallback; each instance URL is one endpoint, the fields are the fallback's.
 */
export const CartesiaOptionsSchema = z
  .object({
    /** Cartesia API key. Default none (a local fake or a proxy that adds it). */
    api_key: z.string().default(''),
    /** Cartesia-Version header value. */
    version: z.string().default(CARTESIA_VERSION),
    /** Pool voice → Cartesia voice id; `default` applies to unmapped voices. */
    voice_map: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export type OpenAIOptions = z.infer<typeof OpenAIOptionsSchema>;
export type GradioOptions = z.infer<typeof GradioOptionsSchema>;
export type EspeakOptions = z.infer<typeof EspeakOptionsSchema>;
export type CartesiaOptions = z.infer<typeof CartesiaOptionsSchema>;

/** What every pool has, whatever its backend. */
const PoolBaseSchema = z.object({
  name: z.string().min(1),
  /** Model name sent upstream (OpenAI `model`) and exposed by /v1/models. */
  model: z.string().default('tts-1'),
  /** Voices this pool speaks; the first is the default voice. */
  voices: z.array(z.string().min(1)).min(1),
  /**
   * Other names for this pool's voices (src/session/voices.ts, docs/http-api.md "Voices").
   * Default: each OpenAI voice (alloy, ash, ballad, coral, echo, fable, onyx, nova, sage,
   * shimmer, verse, marin, cedar) → the pool's first voice; entries given here win. Targets must
   * be voices of the pool; a voice the pool lists itself is never aliased.
   */
  voice_aliases: z.record(z.string().min(1), z.string().min(1)).default({}),
  /** Default language when the client names none. */
  language: z.string().default('en'),
  /** Static instances; may be empty when `discovery` finds them. */
  instances: z.array(InstanceSchema).default([]),
  /** Find instances through DNS as well (default: none, static instances only). */
  discovery: DiscoverySchema.optional(),
  health: HealthSchema,
  timeouts: TimeoutsSchema,
  /** Bounded-loads slack: an instance pins at most ceil((1+ε)·average) sessions. */
  load_epsilon: z.number().min(0).max(10).default(0.25),
  capacity: CapacitySchema,
  /** How long a segment waits for a stream slot on a full pinned instance before moving on. */
  queue_ms: z.number().int().min(0).default(250),
});

/**
 * One pool: the common fields, and `options` validated by its `backend` (docs/backends.md), so a
 * misspelt or wrong option is a configuration error naming the field, not a failure at start.
 */
const PoolSchema = z
  .discriminatedUnion('backend', [
    PoolBaseSchema.extend({ backend: z.literal('openai'), options: OpenAIOptionsSchema.prefault({}) }),
    PoolBaseSchema.extend({ backend: z.literal('gradio'), options: GradioOptionsSchema.prefault({}) }),
    PoolBaseSchema.extend({ backend: z.literal('espeak'), options: EspeakOptionsSchema.prefault({}) }),
    PoolBaseSchema.extend({ backend: z.literal('cartesia'), options: CartesiaOptionsSchema.prefault({}) }),
  ], { error: () => `expected one of ${BACKENDS.join(', ')}` })
  .refine((pool) => pool.instances.length > 0 || pool.discovery !== undefined, {
    message: 'a pool needs at least one instance, or discovery',
    path: ['instances'],
  })
  .superRefine((pool, ctx) => {
    for (const [alias, target] of Object.entries(pool.voice_aliases)) {
      if (!pool.voices.includes(target)) {
        ctx.addIssue({ code: 'custom', path: ['voice_aliases', alias], message: `alias ${alias} → ${target}: ${target} is not one of this pool's voices (${pool.voices.join(', ')})` });
      }
    }
  })
  .transform((pool) => ({ ...pool, voice_aliases: defaultVoiceAliases(pool.voices, pool.voice_aliases) }));

const FallbackSchema = z.object({
  backend: z.literal('cartesia'),
  url: z.string().default('wss://api.cartesia.ai/tts/websocket'),
  api_key: z.string().default(''),
  model: z.string().default('sonic-3'),
  /** Cartesia-Version header value. */
  version: z.string().default(CARTESIA_VERSION),
  /** Pool voice → Cartesia voice id; `default` applies to unmapped voices. */
  voice_map: z.record(z.string(), z.string()).default({}),
  /** Contexts Cartesia runs at once for this account (plan limit). */
  max_concurrency: z.number().int().positive().default(15),
  timeouts: TimeoutsSchema,
});

const SessionSchema = z
  .object({
    /** Segments synthesizing at once per session (the next one prepares while one plays). */
    lookahead: z.number().int().min(1).max(8).default(2),
    /** A text frame larger than this is refused with an error (the connection stays). */
    max_message_bytes: z.number().int().positive().default(64 * 1024),
    /**
     * A WebSocket that has not sent `start` this long after its upgrade gets a fatal
     * `start_timeout` error and is closed (1008). Until then it counts toward server.max_sessions.
     */
    start_timeout_ms: z.number().int().positive().default(10_000),
    /** Text buffered in one turn beyond this is refused. */
    max_turn_chars: z.number().int().positive().default(100_000),
    /** No text for this long → speak what is buffered (0 = only on flush). */
    idle_flush_ms: z.number().int().min(0).default(0),
    /** Cut the first segment of a turn at a clause boundary for a faster first audio. */
    eager_first: z.boolean().default(true),
    /** Client socket buffer above which audio is held back (backpressure). */
    max_buffered_bytes: z.number().int().positive().default(1024 * 1024),
    /** After a failure mid-segment: replay the whole segment elsewhere, or skip it. */
    on_partial_failure: z.enum(['replay', 'skip']).default('replay'),
    /** After a spill to the fallback, later segments return to the pin when it has a slot. */
    return_after_spill: z.boolean().default(true),
    /**
     * How long a segment waits for any provider to free a slot (the pool's wait queue) before
     * it gives up with `fleet_saturated`. 0 = give up as soon as nothing is free after queue_ms.
     */
    max_wait_ms: z.number().int().min(0).default(10_000),
    /**
     * A segment never exceeds this many characters, whatever the client sends: a longer token
     * (99,000 digits without a space) is cut at a grapheme boundary, on every front end.
     */
    max_segment_chars: z.number().int().min(16).default(600),
    /**
     * A segment cut anywhere but at a sentence end (the eager first clause, the clause a run-on
     * sentence is cut at) is at least this many characters. Sentences are never merged.
     */
    min_segment_chars: z.number().int().min(0).default(20),
    /**
     * Run-on text longer than this is cut at its last clause boundary (leaving at least
     * min_segment_chars), else at its last word boundary; never inside a word or number (a
     * longer single token is kept whole up to max_segment_chars).
     */
    soft_max_segment_chars: z.number().int().min(16).default(300),
    /**
     * The fleet's retry budget (as in Envoy and Finagle; src/session/retry-budget.ts): failovers
     * of segments may be at most `ratio` of first attempts over a sliding window of `window_s`,
     * with a floor of min_per_second × window_s per window (which may all come in one second) so
     * a quiet gateway can still fail over. It keeps a sick fleet from being hammered by every
     * session retrying at once.
     */
    retry_budget: z
      .object({
        ratio: z.number().min(0).default(0.2),
        min_per_second: z.number().min(0).default(3),
        window_s: z.number().int().positive().default(10),
      })
      .prefault({}),
    /**
     * Bounds of what one session may hold for a client that does not read; past any of them
     * the call gets `client_too_slow` (fatal, close 1008) and its slots are freed. Turns
     * flushed and not yet delivered:
     */
    max_queued_turns: z.number().int().positive().default(32),
    /** Marks waiting for their audio to be sent. */
    max_pending_marks: z.number().int().positive().default(1000),
    /**
     * Audio synthesized and not yet handed to the client (bytes; ~6 min of 24 kHz s16). New
     * synthesis already pauses while the client is max_buffered_bytes behind.
     */
    max_held_bytes: z.number().int().positive().default(16 * 1024 * 1024),
  })
  .refine((s) => s.min_segment_chars < s.soft_max_segment_chars, { message: 'session.min_segment_chars must be below session.soft_max_segment_chars', path: ['min_segment_chars'] })
  .prefault({});

/**
 * How audio is converted for the client (src/audio/output.ts, docs/audio.md): the resampler's
 * filter design. The defaults meet the acceptance figures of docs/audio.md (alias rejection
 * ≥ 50 dB, the telephony band flat).
 */
const AudioSchema = z
  .object({
    /** Stopband attenuation of the resampler's low-pass in dB: 10 dB of margin over the 50 dB promised. */
    resampler_stopband_db: z.number().min(20).max(120).default(60),
    /**
     * Passband edge as a fraction of the lower rate's Nyquist frequency (the stopband starts at
     * 1.0): 0.85 is 3.4 kHz at 8 kHz, the telephony band. Wider = more taps.
     */
    resampler_passband: z.number().gt(0).lt(1).default(0.85),
  })
  .prefault({});

/**
 * One drop-in front end (docs/compat.md): how the provider's voice ids map to pool voices.
 * A voice id found in `voice_map` becomes that pool voice; an unmapped id that is itself a
 * pool voice passes through; anything else takes `voice_map.default` when set, else the
 * request is refused with the protocol's own "unknown voice" error.
 */
const CompatProtocolSchema = z
  .object({
    /** Provider voice id (Cartesia UUID, ElevenLabs voice_id, Deepgram model) → pool voice. */
    voice_map: z.record(z.string(), z.string()).default({}),
  })
  .prefault({});

const CompatSchema = z
  .object({
    /** `/tts/websocket`, `/tts/bytes`, `/tts/sse`. */
    cartesia: CompatProtocolSchema,
    /** `/v1/text-to-speech/{voice_id}/stream-input`, `/multi-stream-input`, `/stream`. */
    elevenlabs: CompatProtocolSchema,
    /** `/v1/speak` (WebSocket and REST); the voice is the `model` query parameter. */
    deepgram: CompatProtocolSchema,
  })
  .prefault({});

/**
 * The voice library (src/voices, docs/voices.md): uploaded reference voices, stored on disk and
 * registered on every instance of their pool and on the fallback.
 */
const VoicesSchema = z
  .object({
    /** Where voices live: one folder per voice (reference.wav + voice.json). Back it up. */
    dir: z.string().min(1).default('data/voices'),
    /** Largest upload accepted (the file part of the multipart body); larger gets 413 while streaming. */
    max_upload_bytes: z.number().int().positive().default(50 * 1024 * 1024),
    /** Shortest reference clip accepted, in seconds (cloning needs a few seconds of speech). */
    min_seconds: z.number().positive().default(3),
    /** Longest reference clip accepted, in seconds (servers cap their references too). */
    max_seconds: z.number().positive().default(60),
    /** Sample rate of the stored (normalized) reference: mono 16-bit WAV at this rate. */
    sample_rate: z.number().int().positive().default(24_000),
    /** Registering a voice on one instance (upload or list) gives up after this long. */
    register_timeout_ms: z.number().int().positive().default(10_000),
    /** Consent id sent to servers that require one (vLLM-Omni) when the upload names none. */
    default_consent: z.string().default('voicegate'),
  })
  .prefault({})
  .refine((v) => v.min_seconds < v.max_seconds, { message: 'voices.min_seconds must be below voices.max_seconds', path: ['min_seconds'] });

/**
 * Several replicas or workers sharing one truth about GPU capacity and pins (docs/scaling.md,
 * src/cluster/). Without `redis_url`, slots and pins stay in this process (shared by its
 * workers through the primary), and each process learns its own adaptive limits; with it, an
 * instance's adaptive limit is one value in Redis (src/routing/limit-store.ts).
 */
const ClusterSchema = z
  .object({
    /** redis://[user:pass@]host:port[/db]; absent = no Redis, process-local slots and pins. */
    redis_url: z
      .string()
      .url()
      .refine((url) => /^rediss?:\/\//.test(url), { message: 'must start with redis:// or rediss://' })
      .optional(),
    /** A lease whose holder stopped renewing (died) is free again after this long. */
    lease_ttl_ms: z.number().int().min(500).default(3000),
    /** A session's instance is remembered this long after its last activity (reconnects land there). */
    pin_ttl_s: z.number().int().positive().default(600),
    /**
     * A Redis command slower than this counts as Redis down, and every process runs on its local
     * fallback until a PING answers within it again. 50 ms: a lease is taken on the way to a
     * call's first audio, where 50 ms is already audible. Raise it only for a Redis that is far
     * away or on a loaded machine.
     */
    command_timeout_ms: z.number().int().positive().default(50),
  })
  .prefault({});

export const ConfigSchema = z.object({
  server: z
    .object({
      host: z.string().default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(8080),
      /** auto = uWebSockets.js where its native binary loads, else ws. */
      engine: z.enum(['auto', 'uws', 'ws']).default('auto'),
      /** Hard transport limit per WebSocket message (the protocol limit is session.max_message_bytes). */
      max_payload_bytes: z.number().int().positive().default(1024 * 1024),
      /** HTTP request bodies above this get 413 and the connection is closed. */
      max_body_bytes: z.number().int().positive().default(64 * 1024),
      /**
       * An HTTP request line and headers must arrive within this, else the connection closes
       * (slowloris). Engine ws: as set; uws: uWebSockets.js's own fixed 10 s.
       */
      request_head_timeout_ms: z.number().int().positive().default(10_000),
      /**
       * A request body must arrive whole within this after its head, else 408 and the connection
       * closes (a Content-Length never honoured, a trickled body). Whole body, not idle time: a
       * trickle of one byte a second would otherwise hold the connection for a day.
       */
      request_body_timeout_ms: z.number().int().positive().default(30_000),
      /** SIGTERM: live calls get this long to finish their turn. */
      drain_timeout_ms: z.number().int().min(0).default(30_000),
      /**
       * How far the V8 heap may grow past its live size before a major GC, in percent (300 =
       * to 4×). Without it V8 collects the per-chunk garbage with full mark-compacts several
       * times a second under load (src/server/heap.ts). 0 = V8's own heuristic.
       */
      heap_growing_percent: z.number().int().min(0).max(1000).default(300),
      /**
       * Sessions this process takes at once (/v1/stream calls from their upgrade, other calls
       * and HTTP speech requests once their session starts); one more is refused with
       * `at_capacity` and /ready answers 503. 0 = no limit.
       */
      max_sessions: z.number().int().min(0).default(0),
      /** Refuse new sessions with `overloaded` while the gateway's own event loop lags. */
      refuse_when_lagging: z.boolean().default(false),
      /**
       * When a pool is full: `queue` takes new calls and lets them wait with the others;
       * `refuse` answers a new call 503 `at_capacity` (Retry-After) while the pool's wait queue
       * holds work older than its first_audio_ms, so a load balancer or dialer goes elsewhere.
       */
      admission: z.enum(['queue', 'refuse']).default('queue'),
      /**
       * Gateway processes on one port (docs/scaling.md): 1, a number, or `auto` = one per core.
       * Workers share slots and pins through the primary process, or through Redis with
       * `cluster.redis_url`.
       */
      workers: z.union([z.number().int().positive(), z.literal('auto')]).default(1),
    })
    .prefault({}),
  auth: z
    .object({
      /**
       * Empty = open. Otherwise Bearer header or ?api_key= on every route but /health, /ready,
       * /metrics (see protect_metrics) and the console's static files (its API needs a key).
       */
      api_keys: z.array(z.string().min(1)).default([]),
      /** Whether /metrics needs a key too when keys are set. */
      protect_metrics: z.boolean().default(false),
      /**
       * Keys for /admin/* (drain, undrain, instance list). Empty = auth.api_keys; with no key at
       * all, admin routes answer requests from this machine only (loopback, not via a proxy).
       */
      admin_keys: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  http: z
    .object({
      /** Origins allowed cross-origin (CORS); empty = none. */
      cors_origins: z.array(z.string()).default([]),
    })
    .prefault({}),
  session: SessionSchema,
  audio: AudioSchema,
  /** The drop-in Cartesia, ElevenLabs and Deepgram front ends (docs/compat.md). */
  compat: CompatSchema,
  pools: z.array(PoolSchema).min(1),
  fallback: FallbackSchema.optional(),
  voices: VoicesSchema,
  cluster: ClusterSchema,
  log: z.object({ level: z.string().default('info') }).prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;

/**
 * The session and audio defaults, for modules that can also be built without a configuration
 * (the segmenter, the retry budget, the resampler in tests and benches): the schema stays their
 * one owner.
 */
export const SESSION_DEFAULTS: Readonly<SessionConfig> = Object.freeze(SessionSchema.parse({}));
export const AUDIO_DEFAULTS: Readonly<AudioConfig> = Object.freeze(AudioSchema.parse({}));
export type PoolConfig = z.infer<typeof PoolSchema>;
export type BackendName = PoolConfig['backend'];
/** The pool config of one backend, its `options` typed. */
export type PoolConfigOf<B extends BackendName> = Extract<PoolConfig, { backend: B }>;
export type InstanceConfig = z.infer<typeof InstanceSchema>;
export type FallbackConfig = z.infer<typeof FallbackSchema>;
export type SessionConfig = z.infer<typeof SessionSchema>;
export type AudioConfig = z.infer<typeof AudioSchema>;
export type RetryBudgetConfig = SessionConfig['retry_budget'];
export type HealthConfig = z.infer<typeof HealthSchema>;
export type TimeoutsConfig = z.infer<typeof TimeoutsSchema>;
export type DiscoveryConfig = z.infer<typeof DiscoverySchema>;
export type CompatProtocolConfig = z.infer<typeof CompatProtocolSchema>;
export type VoicesConfig = z.infer<typeof VoicesSchema>;
export type ClusterConfig = z.infer<typeof ClusterSchema>;
export { ENCODINGS, SAMPLE_RATES };

/** `pool` as a pool of `backend` (its options typed); throws when it is another backend's. */
export function poolOf<B extends BackendName>(pool: PoolConfig, backend: B): PoolConfigOf<B> {
  if (pool.backend !== backend) throw new ConfigError(`pools.${pool.name}: backend ${pool.backend}, not ${backend}`);
  return pool as PoolConfigOf<B>;
}

/** A configuration voicegate cannot run: main.ts exits 2 with its message as the one line. */
export class ConfigError extends VoicegateError<'config_invalid'> {
  constructor(message: string, options?: ErrorOptions) {
    super('config_invalid', message, options);
  }
}

export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../config/default.yaml', import.meta.url));

/** A stable instance id from its URL: host-port plus a short hash, so it survives restarts. */
export function instanceIdFromUrl(url: string): string {
  let base: string;
  try {
    const u = new URL(url);
    base = `${u.hostname}-${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
  } catch {
    base = 'instance';
  }
  const hash = createHash('sha1').update(url).digest('hex').slice(0, 6);
  return `${base.replace(/[^A-Za-z0-9.-]/g, '-')}-${hash}`;
}

/** `${VAR}` in YAML values comes from the environment (empty when unset). */
function expandEnv(value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') return value.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => env[name] ?? '');
  if (Array.isArray(value)) return value.map((v) => expandEnv(v, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env)]));
  }
  return value;
}

/** Every issue on one line (`path: message; path: message`): main prints it as the one line of exit 2. */
function formatIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`).join('; ');
}

/** Parses an already-loaded config object (YAML document) with env overrides applied. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, source = 'config'): Config {
  const doc = expandEnv(raw ?? {}, env) as Record<string, unknown>;
  const server = { ...((doc.server as object) ?? {}) } as Record<string, unknown>;
  if (env.PORT !== undefined && env.PORT !== '') server.port = Number(env.PORT);
  const log = { ...((doc.log as object) ?? {}) } as Record<string, unknown>;
  if (env.LOG_LEVEL) log.level = env.LOG_LEVEL;
  const merged: Record<string, unknown> = { ...doc, server, log };

  if (env.VOICEGATE_INSTANCES) {
    const pools = Array.isArray(doc.pools) ? [...(doc.pools as Record<string, unknown>[])] : [];
    if (pools.length === 0) throw new ConfigError(`${source}: VOICEGATE_INSTANCES is set but no pool is configured`);
    const urls = env.VOICEGATE_INSTANCES.split(',').map((s) => s.trim()).filter(Boolean);
    const first = pools[0] as Record<string, unknown>;
    const template = (Array.isArray(first.instances) ? first.instances[0] : {}) as Record<string, unknown>;
    pools[0] = {
      ...first,
      instances: urls.map((url) => ({ max_concurrency: template?.max_concurrency, weight: 1, url })),
    };
    merged.pools = pools;
  }

  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(`invalid configuration in ${source}: ${formatIssues(result.error)}`);
  }
  const config = result.data;
  for (const pool of config.pools) {
    pool.instances.forEach((inst, i) => {
      if (!inst.url && pool.backend !== 'espeak') {
        throw new ConfigError(`invalid configuration in ${source}: pools.${pool.name}.instances.${i}.url: required for backend ${pool.backend}`);
      }
      inst.id ??= inst.url ? instanceIdFromUrl(inst.url) : `${pool.name}-${i + 1}`;
    });
    const ids = new Set<string>();
    for (const inst of pool.instances) {
      if (ids.has(inst.id!)) throw new ConfigError(`invalid configuration in ${source}: pools.${pool.name}: duplicate instance id ${inst.id}`);
      ids.add(inst.id!);
    }
  }
  const poolVoices = new Set(config.pools.flatMap((pool) => pool.voices));
  for (const [protocol, compat] of Object.entries(config.compat)) {
    for (const [id, voice] of Object.entries(compat.voice_map)) {
      if (!poolVoices.has(voice)) throw new ConfigError(`invalid configuration in ${source}: compat.${protocol}.voice_map.${id}: ${JSON.stringify(voice)} is not a voice of any pool`);
    }
  }
  const names = new Set<string>();
  for (const pool of config.pools) {
    if (names.has(pool.name)) throw new ConfigError(`invalid configuration in ${source}: pools: duplicate pool name ${pool.name}`);
    names.add(pool.name);
  }
  return config;
}

/** Loads the YAML file named by VOICEGATE_CONFIG (or the default) and applies env overrides. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const path = env.VOICEGATE_CONFIG || DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    // The yaml library's message spans lines (a code frame): its first line names the place.
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message.split('\n', 1)[0]}`);
  }
  return parseConfig(raw, env, path);
}
