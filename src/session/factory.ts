/**
 * Builds sessions for every client-facing protocol (native WS, Twilio, HTTP speech API, the
 * Cartesia/ElevenLabs/Deepgram drop-ins):
 * resolves the pool from the voice, pins the session, and wires segmenter, output, placement
 * and the pool's wait queue. One place decides what a session gets, so all protocols behave alike.
 */
import type { OutputFormat } from '../audio/format.ts';
import type { Backend } from '../backends/backend.ts';
import type { Config, PoolConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Fleet } from '../routing/fleet.ts';
import type { Router } from '../routing/router.ts';
import { SessionStartError } from './errors.ts';
import { FALLBACK_PROVIDER, FallbackSlots, mapCartesiaVoice } from './fallback.ts';
import { Placement } from './placement.ts';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.ts';
import { resolveVoice } from './voices.ts';
import { Session, type AudioOutputLike, type SegmenterLike, type SessionSink } from './session.ts';
import { WAIT_CLASSES, WaitQueue } from './wait-queue.ts';

export interface SessionRequest {
  readonly id: string;
  readonly key: string;
  readonly voice?: string;
  readonly language?: string;
  readonly speed?: number;
  /** Style instructions (HTTP speech API `instructions`). */
  readonly instructions?: string;
  readonly format: OutputFormat;
  readonly sink: SessionSink;
  /** Pool by name (HTTP API `model`); otherwise chosen by voice. */
  readonly pool?: string;
  /** Segmenter eager-first override (the HTTP API has the whole text, no need to hurry). */
  readonly eagerFirst?: boolean;
  /** An HTTP speech request: it waits behind live calls when the pool is full. Default false. */
  readonly http?: boolean;
}

export interface SessionFactoryOptions {
  readonly config: Config;
  /** The pools' Routers by name: the only way the session layer reaches routing. */
  readonly fleet: Pick<Fleet, 'router'>;
  readonly fallback: Backend | null;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly createSegmenter: (options: { language?: string; eagerFirst?: boolean }) => SegmenterLike;
  readonly createOutput: (format: OutputFormat, onFrame: (frame: Uint8Array) => void) => AudioOutputLike;
  readonly normalize?: (text: string) => string;
  /** Whether the fallback speaks another voice than a session's (SessionOptions.fallbackChangesVoice). */
  readonly fallbackChangesVoice?: (voice: string) => boolean;
  /**
   * Fleet retry budget. Default: config.session.retry_budget (20 % of first attempts over 10 s,
   * and at least 30 retries in any 10 s window whatever the traffic).
   */
  readonly retryBudget?: RetryBudgetOptions;
}

export interface SessionFactory {
  /** Throws SessionStartError (unknown_voice, no_capacity, at_capacity) when the session cannot start. */
  create(request: SessionRequest): Session;
  /** The fallback's contexts (null without a fallback). */
  readonly fallback: FallbackSlots | null;
  /** Every open session, whatever its protocol (graceful drain waits on them). */
  readonly live: ReadonlySet<Session>;
  /** The wait queue of each pool, by pool name. */
  readonly queues: ReadonlyMap<string, WaitQueue>;
  /**
   * Whether `pool` (every pool when omitted) is saturated: its wait queue holds work older than
   * its first_audio_ms. `server.admission: refuse` turns new calls away then.
   */
  saturated(pool?: string): boolean;
}

export function createSessionFactory(options: SessionFactoryOptions): SessionFactory {
  const { config, fleet, metrics } = options;
  const fallback = options.fallback && config.fallback ? new FallbackSlots(options.fallback, config.fallback, metrics) : null;
  const budget = config.session.retry_budget;
  const retryBudget = new RetryBudget(options.retryBudget ?? { ratio: budget.ratio, minPerSecond: budget.min_per_second, windowSeconds: budget.window_s });
  const live = new Set<Session>();
  const onClose = (session: Session) => live.delete(session);

  // Pool settings come from the config, routing from the pool's Router (fleet.router).
  const queues = new Map<string, WaitQueue>();
  for (const pool of config.pools) queues.set(pool.name, poolQueue(pool, fleet.router(pool.name), fallback, metrics));
  // A freed fallback context may serve a waiter of any pool.
  fallback?.onRelease(() => {
    for (const queue of queues.values()) queue.pump();
  });
  const saturatedPool = (pool: PoolConfig): boolean => queues.get(pool.name)!.oldestWaitMs() > pool.timeouts.first_audio_ms;

  return {
    fallback,
    live,
    queues,
    saturated(name) {
      if (name === undefined) return config.pools.every(saturatedPool);
      const pool = config.pools.find((p) => p.name === name);
      return pool !== undefined && saturatedPool(pool);
    },
    create(request) {
      const pool =
        request.pool !== undefined
          ? config.pools.find((p) => p.name === request.pool)
          : (config.pools.find((p) => request.voice !== undefined && p.voices.includes(request.voice)) ?? config.pools[0]);
      if (!pool) throw new SessionStartError('unknown_voice', `no pool named ${request.pool}`);
      const router = fleet.router(pool.name);
      const voice = resolveVoice(pool, request.voice);
      if (voice === null) {
        const all = [...new Set(config.pools.flatMap((p) => p.voices))];
        throw new SessionStartError('unknown_voice', `unknown voice ${JSON.stringify(request.voice)}; available: ${all.join(', ')}`);
      }
      if (config.server.admission === 'refuse' && saturatedPool(pool)) {
        throw new SessionStartError('at_capacity', `every GPU of pool ${pool.name} is busy and calls are already waiting (server.admission: refuse); retry shortly or on another replica`);
      }
      const pin = router.pin(request.key);
      if (!pin && !fallback) throw new SessionStartError('no_capacity', `no instance of pool ${pool.name} can take a session and no fallback is configured`);
      const logger = options.logger.child({ session_id: request.id, instance: pin?.id ?? FALLBACK_PROVIDER });
      const placement = new Placement(
        {
          key: request.key,
          router,
          queue: queues.get(pool.name)!,
          fallback,
          retryBudget,
          timeouts: pool.timeouts,
          voice,
          instanceVoice: pool.backend === 'cartesia' ? mapCartesiaVoice(pool.options.voice_map, voice) : voice,
          queueMs: pool.queue_ms,
          maxWaitMs: config.session.max_wait_ms,
          waitingNoticeMs: pool.timeouts.first_audio_ms,
          returnAfterSpill: config.session.return_after_spill,
          onRepin: (to) => logger.info({ instance: to?.id ?? FALLBACK_PROVIDER }, 'session re-pinned'),
        },
        pin,
      );
      const language = request.language ?? pool.language;
      const session = new Session({
        id: request.id,
        key: request.key,
        format: request.format,
        voice,
        language,
        speed: request.speed,
        instructions: request.instructions,
        pool: pool.name,
        placement,
        http: request.http,
        config: config.session,
        metrics,
        logger,
        sink: request.sink,
        segmenter: options.createSegmenter({ language, eagerFirst: request.eagerFirst ?? config.session.eager_first }),
        createOutput: options.createOutput,
        normalize: options.normalize,
        fallbackChangesVoice: options.fallbackChangesVoice,
        onClose,
      });
      live.add(session);
      return session;
    },
  };
}

/**
 * The pool's wait queue, fed by every provider its calls may use: a stream freed on any of its
 * instances, or a fallback context, wakes it. Its depth, waits and the pool's demand go to the
 * metrics.
 */
function poolQueue(config: PoolConfig, pool: Router, fallback: FallbackSlots | null, metrics: Metrics): WaitQueue {
  const name = config.name;
  metrics.registerPool(name, WAIT_CLASSES);
  const queue = new WaitQueue({
    pool: name,
    hasCapacity: () => pool.hasFreeSlot() || (fallback !== null && fallback.free > 0),
    patienceMs: config.timeouts.first_audio_ms,
    onDepth: (klass, depth) => metrics.queueDepth.set({ pool: name, class: klass }, depth),
    onLeave: (klass, waitedMs, outcome) => {
      if (outcome !== 'cancelled') metrics.queueWait.observe({ pool: name, class: klass }, waitedMs / 1000);
    },
  });
  // Streams in flight on the pool's instances + segments waiting + contexts spilled to the fallback.
  const demand = (): number => {
    let streams = queue.size + (fallback?.inUseBy(name) ?? 0);
    for (const inst of pool.instances) streams += inst.streams;
    return streams;
  };
  metrics.demandSources.set(name, demand);
  pool.onCapacity(() => queue.pump());
  return queue;
}
