/**
 * The start-up voice check (issue 21): every voice a pool lists (aliases point at them) must be
 * one its backend speaks. Pools whose backend can list its voices (Backend.listVoices: espeak
 * always, OpenAI-compatible servers offering /v1/audio/voices, Gradio apps whose /config names
 * the voice input's choices) are asked once, through the
 * first instance that answers; a voice the server lacks is a VoiceCheckError naming pool, voice
 * and the voices it has, which main.ts turns into exit status 2. Servers that cannot be asked,
 * or cannot be reached now, are logged and left to fail at the first request, where
 * UncheckedVoices warns once per instance and voice.
 */
import type { BackendAudio } from '../audio/format.ts';
import { VoicegateError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { isBackendError, type Backend, type SynthesisRequest } from './backend.ts';

export class VoiceCheckError extends VoicegateError<'voice_unknown'> {
  constructor(message: string, options?: ErrorOptions) {
    super('voice_unknown', message, options);
  }
}

export interface VoiceCheckPool {
  readonly name: string;
  readonly backend: string;
  readonly voices: readonly string[];
  /** The pool's instances' backends, asked in order until one answers. */
  readonly backends: readonly Backend[];
}

/** How many voices the error message lists before "… and N more". */
const LISTED = 60;

/**
 * Checks every pool's voices. Resolves with the names of the pools whose voices could not be
 * checked (their servers cannot be asked, or none answered); rejects with VoiceCheckError.
 */
export async function checkPoolVoices(pools: readonly VoiceCheckPool[], options: { timeoutMs?: number; logger?: Logger } = {}): Promise<string[]> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const unchecked: string[] = [];
  await Promise.all(
    pools.map(async (pool) => {
      const askable = pool.backends.filter((b) => b.listVoices !== undefined);
      if (askable.length === 0) {
        unchecked.push(pool.name);
        return;
      }
      let lastError: unknown = null;
      for (const backend of askable) {
        let list;
        try {
          list = await backend.listVoices!(AbortSignal.timeout(timeoutMs));
        } catch (err) {
          lastError = err;
          continue;
        }
        if (list === null) {
          options.logger?.info({ pool: pool.name }, `pool ${pool.name}: the ${pool.backend} server cannot list its voices; voices are not checked at start`);
          unchecked.push(pool.name);
          return;
        }
        const missing = pool.voices.filter((v) => !list.has(v));
        if (missing.length === 0) return;
        const shown = list.voices.slice(0, LISTED).join(', ') + (list.voices.length > LISTED ? `, … and ${list.voices.length - LISTED} more` : '');
        throw new VoiceCheckError(
          `pool ${pool.name}: ${missing.length === 1 ? 'voice' : 'voices'} ${missing.map((v) => JSON.stringify(v)).join(', ')} not spoken by its ${pool.backend} backend; it has: ${shown}`,
        );
      }
      options.logger?.warn({ pool: pool.name, err: lastError }, `pool ${pool.name}: could not ask any instance for its voices; voices are not checked at start`);
      unchecked.push(pool.name);
    }),
  );
  return unchecked;
}

/**
 * The other half of the check, for servers that could not be asked at start: the first request
 * for a voice that such a server refuses (a 4xx, or an error of its own: 500 or a Gradio app
 * error) logs a warning naming pool, instance and voice, once per instance and voice, however
 * many requests fail after it. Full servers (429, 503), timeouts and dropped connections say
 * nothing about a voice and are not warned about.
 */
export class UncheckedVoices {
  /** Pools (or `fallback`) whose servers' voices were not checked; only these are watched. */
  private readonly pools = new Set<string>();
  /** `pool \0 instance \0 voice` already warned about. */
  private readonly warned = new Set<string>();

  constructor(private readonly logger: Logger) {}

  /** From now on, failures of `pool`'s servers are watched (the start-up check could not ask them). */
  markUnchecked(pool: string): void {
    this.pools.add(pool);
  }

  /**
   * `backend` with its failures watched while its pool is unchecked. Everything else is the
   * backend's own; a checked pool's requests run on the backend's own synthesize, unwrapped.
   */
  watch(pool: string, instance: string, backend: Backend): Backend {
    const failed = (voice: string, err: unknown): void => this.failed(pool, instance, voice, err);
    async function* watched(req: SynthesisRequest, signal: AbortSignal): AsyncIterable<BackendAudio> {
      try {
        yield* backend.synthesize(req, signal);
      } catch (err) {
        if (!signal.aborted) failed(req.voice, err);
        throw err;
      }
    }
    return new Proxy(backend, {
      get: (target, prop) => {
        if (prop === 'synthesize' && this.pools.has(pool)) return watched;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  private failed(pool: string, instance: string, voice: string, err: unknown): void {
    if (!isBackendError(err)) return;
    const refused = err.code === 'http_4xx' || (err.code === 'http_5xx' && !err.overflow && (err.status === undefined || err.status === 500));
    if (!refused) return;
    const key = `${pool}\u0000${instance}\u0000${voice}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger.warn(
      { pool, instance, voice, kind: err.code, status: err.status },
      `pool ${pool}, instance ${instance}: a request for voice ${JSON.stringify(voice)} failed (${err.message}); its voices could not be checked at start: make sure it has voice ${JSON.stringify(voice)}`,
    );
  }
}
