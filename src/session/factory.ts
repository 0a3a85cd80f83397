/**
 * Builds sessions for every client-facing protocol (native WS, Twilio, HTTP speech API):
 * resolves the pool from the voice, pins the session, and wires segmenter, output and the
 * fallback. One place decides what a session gets, so all protocols behave alike.
 */
import type { OutputFormat } from '../audio/format.ts';
import type { Backend } from '../backends/backend.ts';
import type { Config, FallbackConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { ProtocolError } from '../protocol/stream.ts';
import type { Fleet } from '../routing/fleet.ts';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.ts';
import { resolveVoice } from './voices.ts';
import { Session, type AudioOutputLike, type SegmenterLike, type SessionSink } from './session.ts';
import { FALLBACK_PROVIDER, type FallbackProvider } from './synthesizer.ts';

export interface SessionRequest {
  readonly id: string;
  readonly key: string;
  readonly voice?: string;
  readonly language?: string;
  readonly speed?: number;
  readonly format: OutputFormat;
  readonly sink: SessionSink;
  /** Pool by name (HTTP API `model`); otherwise chosen by voice. */
  readonly pool?: string;
  /** Segmenter eager-first override (the HTTP API has the whole text, no need to hurry). */
  readonly eagerFirst?: boolean;
}

export interface SessionFactoryOptions {
  readonly config: Config;
  readonly fleet: Fleet;
  readonly fallback: Backend | null;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly createSegmenter: (options: { language?: string; eagerFirst?: boolean }) => SegmenterLike;
  readonly createOutput: (format: OutputFormat, onFrame: (frame: Uint8Array) => void) => AudioOutputLike;
  readonly normalize?: (text: string) => string;
  /** Fleet retry budget (defaults: 20 % of requests over 10 s, at least 3 per second). */
  readonly retryBudget?: RetryBudgetOptions;
}

export interface SessionFactory {
  /** Throws ProtocolError (unknown_voice, no_capacity) when the session cannot start. */
  create(request: SessionRequest): Session;
  readonly fallback: FallbackProvider | null;
  /** Every open session, whatever its protocol (graceful drain waits on them). */
  readonly live: ReadonlySet<Session>;
}

function fallbackProvider(backend: Backend, config: FallbackConfig): FallbackProvider {
  let active = 0;
  const slot = { release: () => void active-- };
  return {
    backend,
    timeouts: config.timeouts,
    voiceFor: (voice) => config.voice_map[voice] ?? config.voice_map.default ?? voice,
    tryAcquire() {
      if (active >= config.max_concurrency) return null;
      active++;
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          slot.release();
        },
      };
    },
  };
}

export function createSessionFactory(options: SessionFactoryOptions): SessionFactory {
  const { config, fleet, metrics } = options;
  const fallback = options.fallback && config.fallback ? fallbackProvider(options.fallback, config.fallback) : null;
  const retryBudget = new RetryBudget(options.retryBudget);
  const live = new Set<Session>();
  const onClose = (session: Session) => live.delete(session);
  return {
    fallback,
    live,
    create(request) {
      const router =
        request.pool !== undefined
          ? fleet.routers.find((p) => p.pool === request.pool)
          : (fleet.routers.find((p) => request.voice !== undefined && p.config.voices.includes(request.voice)) ?? fleet.routers[0]);
      if (!router) throw new ProtocolError('unknown_voice', `no pool named ${request.pool}`);
      const pool = router.config;
      const voice = resolveVoice(pool, request.voice);
      if (voice === null) {
        const all = [...new Set(fleet.routers.flatMap((p) => p.config.voices))];
        throw new ProtocolError('unknown_voice', `unknown voice ${JSON.stringify(request.voice)}; available: ${all.join(', ')}`);
      }
      const pin = router.pin(request.key);
      if (!pin && !fallback) throw new ProtocolError('no_capacity', `no instance of pool ${pool.name} can take a session and no fallback is configured`);
      const logger = options.logger.child({ session_id: request.id, instance: pin?.id ?? FALLBACK_PROVIDER });
      const language = request.language ?? pool.language;
      const session = new Session(
        {
          id: request.id,
          key: request.key,
          format: request.format,
          voice,
          language,
          speed: request.speed,
          router,
          pool: pool.name,
          timeouts: pool.timeouts,
          queueMs: pool.queue_ms,
          fallback,
          retryBudget,
          config: config.session,
          metrics,
          logger,
          sink: request.sink,
          segmenter: options.createSegmenter({ language, eagerFirst: request.eagerFirst ?? config.session.eager_first }),
          createOutput: options.createOutput,
          normalize: options.normalize,
          onClose,
        },
        pin,
      );
      live.add(session);
      return session;
    },
  };
}
