/**
 * The gateway: config → fleet (pools, routing, health) → session factory → transport engine
 * with the native stream protocol and HTTP routes. main.ts adds signals; tests and benchmarks
 * build gateways directly.
 */
import type { OutputFormat } from './audio/format.ts';
import { createAudioOutput } from './audio/output.ts';
import type { Backend } from './backends/backend.ts';
import { createCartesiaBackend } from './backends/cartesia/backend.ts';
import { createBackend } from './backends/index.ts';
import { UncheckedVoices, checkPoolVoices } from './backends/voice-check.ts';
import { preloadEncoders } from './audio/encoders/index.ts';
import type { Config } from './config.ts';
import { silentLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { DnsDiscovery, type Resolver } from './routing/discovery.ts';
import { ClusterRedis } from './cluster/redis.ts';
import { Fleet } from './routing/fleet.ts';
import { RedisLimitStore } from './routing/limit-store.ts';
import { LocalPinStore, type PinStore } from './routing/pins.ts';
import { RedisPinStore } from './cluster/redis-pins.ts';
import { SharedInstanceState } from './cluster/instance-state.ts';
import { SharedVoiceIndex } from './cluster/voice-index.ts';
import { LoopLagMonitor } from './routing/loop-lag.ts';
import { Admission } from './server/admission.ts';
import { adminFleet, adminRoutes } from './server/admin.ts';
import { createAdminAuth, createAuthorizer } from './server/auth.ts';
import { CallRegistry, ConsoleFeed } from './server/console-feed.ts';
import { consoleRoutes, StreamTickets } from './server/console-routes.ts';
import type { Engine, HttpRoute, RequestInfo } from './server/engine.ts';
import { healthRoutes } from './server/http-routes.ts';
import { chooseEngine, createEngine } from './server/select.ts';
import { speechRoutes } from './server/speech-routes.ts';
import { STREAM_PATH, streamHandlers } from './server/stream-route.ts';
import { warmUpStreamPath } from './server/warm-up.ts';
import { compatHttpRoutes, compatWebSockets } from './server/compat-routes.ts';
import { dispatchWebSockets, type Envelope } from './server/ws-dispatch.ts';
import { createSessionFactory, type SessionFactory } from './session/factory.ts';
import { FALLBACK_POOL, FALLBACK_PROVIDER } from './session/fallback.ts';
import { normalizeForSpeech } from './text/normalize.ts';
import { createSegmenter } from './text/segmenter.ts';
import { voiceRoutes } from './server/voice-routes.ts';
import { VoiceLibrary } from './voices/library.ts';
import { RedisSlots } from './cluster/leases.ts';
import type { SlotStore } from './routing/slots.ts';
import { withLibraryVoices } from './voices/listing.ts';

/** Each warm-up call at start gives up after this long (it only warms code; it never blocks a start for long). */
const WARM_UP_TURN_MS = 5000;
/**
 * Warm-up calls at start, one after another, on different session ids (so on each instance):
 * V8 optimises a function after it has run a while, so one call left the next few calls
 * ~1.3× slower than the tenth; ten brought that to ~1.2× for ~0.5 s more start
 * (bench/RESULTS.md, cold starts). Not a config key: it trades start time for nothing a user sees.
 */
const WARM_UP_CALLS = 10;

export interface GatewayOptions {
  readonly config: Config;
  readonly logger?: Logger;
  /**
   * Stream slot store (src/routing/slots.ts). Default: RedisSlots when cluster.redis_url is
   * set, else a LocalSlots of this process. Workers pass their IPC store to the primary.
   * The gateway closes the store it was given on shutdown.
   */
  readonly slots?: SlotStore;
  /**
   * Remembered pins (src/routing/pins.ts), started. Default: RedisPinStore when
   * cluster.redis_url is set, else a LocalPinStore of this process. Workers pass their IPC
   * store to the primary. The gateway closes the store it was given on shutdown.
   */
  readonly pins?: PinStore;
  /** A fresh registry per gateway unless given. */
  readonly metrics?: Metrics;
  /** Starts active health checks (default true). */
  readonly healthChecks?: boolean;
  /** DNS resolver of pools with `discovery` (default: node:dns lookup; tests inject a fake). */
  readonly resolveDns?: Resolver;
  /**
   * Asks backends that can list their voices whether they speak the configured ones, and
   * fails (VoiceCheckError) when one does not (default true; src/backends/voice-check.ts).
   */
  readonly checkVoices?: boolean;
  /**
   * Whether a request comes from this machine, for admin routes when no admin key is configured
   * (default: auth.ts isLocalRequest — loopback socket, no forwarding header; tests inject one).
   */
  readonly isLocalRequest?: (req: RequestInfo) => boolean;
}

export interface Gateway {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly fleet: Fleet;
  readonly sessions: SessionFactory;
  /** Uploaded voices (src/voices), registered on every instance of their pool. */
  readonly voices: VoiceLibrary;
  /** One per pool with `discovery`, started by listen(). */
  readonly discovery: readonly DnsDiscovery[];
  /** Engine name once listening. */
  readonly engine: 'uws' | 'ws';
  /** Bound port once listening. */
  readonly port: number;
  /** Listens, then resolves once ready (backends warm, health checks started). */
  listen(): Promise<number>;
  /**
   * Graceful drain: /ready turns 503, no new sessions, live calls finish their current turn
   * up to `deadlineMs`, then close with 1001.
   */
  shutdown(deadlineMs?: number): Promise<void>;
  /** Closes everything at once. */
  close(): Promise<void>;
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const logger = options.logger ?? silentLogger;
  const metrics = options.metrics ?? new Metrics();
  // Passive health must not blame GPUs for timeouts the gateway's own overload caused.
  const loopLag = new LoopLagMonitor();
  // Every backend built, so /ready can wait for those that warm up (the embedded engine).
  const backends: Backend[] = [];
  const voices = await VoiceLibrary.open(config, logger, { shared: config.cluster.redis_url !== undefined });
  // Servers whose voices the start-up check could not ask: their first refusal of a voice is logged.
  const uncheckedVoices = new UncheckedVoices(logger);
  // cluster.redis_url: slots, pins, drain, adaptive limits and the voice index are shared by every
  // replica (docs/scaling.md). Never blocks the start: each part runs locally until Redis answers.
  const redisUrl = config.cluster.redis_url;
  const redis = redisUrl ? new ClusterRedis({ url: redisUrl, logger, metrics, commandTimeoutMs: config.cluster.command_timeout_ms }) : null;
  redis?.start();
  const slots: SlotStore | undefined = options.slots ?? (redis ? new RedisSlots({ redis, leaseTtlMs: config.cluster.lease_ttl_ms }) : undefined);
  const pinTtlMs = config.cluster.pin_ttl_s * 1000;
  const redisPins = !options.pins && redis ? new RedisPinStore({ redis, ttlMs: pinTtlMs, logger }) : null;
  const pins: PinStore = options.pins ?? redisPins ?? new LocalPinStore({ ttlMs: pinTtlMs });
  await redisPins?.start();
  const closeCluster = async (): Promise<void> => {
    await slots?.close();
    await pins.close();
    await redis?.close();
  };
  const fleet = new Fleet({
    pools: config.pools,
    metrics,
    slots,
    pins,
    // One adaptive limit per instance across replicas, not one per replica.
    limitStore: redis ? new RedisLimitStore(redis) : undefined,
    overloaded: () => loopLag.overloaded,
    createBackend: (pool, instance) => {
      const backend = uncheckedVoices.watch(pool.name, instance.id, voices.wrapBackend(pool, instance.id, createBackend(pool, instance, { metrics, logger })));
      backends.push(backend);
      return backend;
    },
  });
  voices.attach(fleet);
  const sharedState = redis ? new SharedInstanceState({ fleet, redis, logger }) : null;
  await sharedState?.start();
  const sharedVoices = redis ? new SharedVoiceIndex({ library: voices, redis, logger }) : null;
  await sharedVoices?.start();
  // Everything shared through Redis, stopped in one place (a failed start and shutdown alike).
  const stopShared = async (): Promise<void> => {
    sharedState?.stop();
    sharedVoices?.stop();
    await closeCluster();
  };
  fleet.on('instance', (event) => logger.info(event, `instance ${event.type}`));
  const discovery = config.pools.flatMap((pool) => {
    if (!pool.discovery) return [];
    const d = new DnsDiscovery({ pool: fleet.pool(pool.name)!, config: pool.discovery, resolve: options.resolveDns });
    d.on('change', (change) => logger.info(change, `discovery: ${change.added.length} joined, ${change.removed.length} left (${change.members} discovered)`));
    d.on('failed', ({ pool: name, dns, error }) => logger.warn({ pool: name, dns, err: error }, 'discovery: resolution failed; instances unchanged'));
    return [d];
  });
  if (options.checkVoices === false) {
    for (const pool of config.pools) uncheckedVoices.markUnchecked(pool.name);
  } else {
    try {
      const unchecked = await checkPoolVoices(
        // Voices of the library are registered on the instances by the library itself, not checked here.
        config.pools.map((pool) => ({ name: pool.name, backend: pool.backend, voices: pool.voices.filter((v) => !voices.get(v)), backends: fleet.pool(pool.name)?.allInstances().map((i) => i.backend) ?? [] })),
        { logger },
      );
      for (const name of unchecked) uncheckedVoices.markUnchecked(name);
    } catch (err) {
      await fleet.stop();
      await stopShared();
      throw err;
    }
  }
  // The codec libraries load now, not on the first mp3/opus request.
  preloadEncoders();
  // Cartesia cannot be asked for its voices either: a mapped voice it refuses is logged once.
  uncheckedVoices.markUnchecked(FALLBACK_POOL);
  const fallbackBackend: Backend | null = config.fallback ? uncheckedVoices.watch(FALLBACK_POOL, FALLBACK_PROVIDER, createCartesiaBackend(config.fallback, { metrics, logger })) : null;
  if (fallbackBackend) metrics.registerProvider(FALLBACK_PROVIDER);

  const resamplerQuality = { stopbandDb: config.audio.resampler_stopband_db, passband: config.audio.resampler_passband };
  const sessionDeps = {
    config,
    fleet,
    fallback: fallbackBackend,
    logger,
    // Every segmentation setting of config.session; the session's own idle timer reads idle_flush_ms.
    createSegmenter: (opts: { language?: string; eagerFirst?: boolean }) =>
      createSegmenter({
        language: opts.language,
        eagerFirst: opts.eagerFirst ?? config.session.eager_first,
        minLength: config.session.min_segment_chars,
        maxLength: config.session.soft_max_segment_chars,
        maxSegmentChars: config.session.max_segment_chars,
      }),
    createOutput: (format: OutputFormat, onFrame: (frame: Uint8Array) => void) => createAudioOutput(format, onFrame, { quality: resamplerQuality }),
    normalize: normalizeForSpeech,
    // A library voice without a Cartesia clone: a move to the fallback changes the voice heard.
    fallbackChangesVoice: (voice: string) => voices.fallbackChangesVoice(voice),
  };
  const sessions = createSessionFactory({ ...sessionDeps, metrics });

  const authorize = createAuthorizer(config.auth.api_keys);
  const adminAuth = createAdminAuth(config.auth.admin_keys, config.auth.api_keys, options.isLocalRequest);
  const admission = new Admission({
    maxSessions: config.server.max_sessions,
    refuseWhenLagging: config.server.refuse_when_lagging,
    liveSessions: () => sessions.live.size,
    lagging: () => loopLag.overloaded,
    saturated: config.server.admission === 'refuse' ? (pool) => sessions.saturated(pool) : undefined,
  });
  // The web console (docs/console.md): the calls list needs each session's id and front end.
  const calls = new CallRegistry(sessions);
  const consoleFeed = new ConsoleFeed({ config, fleet, metrics, calls });
  const streamTickets = new StreamTickets();
  const routes: HttpRoute[] = [
    ...healthRoutes({
      metrics,
      authorizeMetrics: config.auth.protect_metrics ? authorize : () => true,
      ready: () => {
        if (!warm) return { ready: false, reason: 'warming up' };
        if (admission.draining) return { ready: false, reason: 'shutting down' };
        if (admission.full) return { ready: false, reason: 'at capacity (server.max_sessions)' };
        if (fleet.anyUp()) return { ready: true, reason: 'instances up' };
        if (fallbackBackend) return { ready: true, reason: 'fallback configured' };
        return { ready: false, reason: 'no instance up and no fallback' };
      },
    }),
    // The fallback's contexts in use show beside the instances' streams.
    ...adminRoutes(adminFleet(fleet, sessions), adminAuth, logger),
    ...consoleRoutes({ feed: consoleFeed, authorize, authorizeAdmin: adminAuth.authorize, tickets: streamTickets }),
    ...speechRoutes({ sessions: calls.forProtocol('http'), config, authorize, metrics, logger, admission, listVoices: (listing) => withLibraryVoices(listing, voices, config.pools) }),
    ...compatHttpRoutes({ sessions: calls.forProtocol('compat-http'), config, metrics, logger, admission }),
    ...voiceRoutes({ library: voices, config, authorize, logger }),
  ];
  const webSockets = dispatchWebSockets([
    { paths: [STREAM_PATH], handlers: streamHandlers({ sessions: calls.forProtocol('native'), authorize: streamTickets.orElse(authorize), metrics, logger, maxMessageBytes: config.session.max_message_bytes, admission, startTimeoutMs: config.session.start_timeout_ms }) },
    ...compatWebSockets({ sessions: calls.forProtocol('compat-ws'), config, metrics, logger, admission }),
  ]);

  /** Every backend at start is warm: /ready may answer 200 (set once, never cleared). */
  let warm = false;
  const choice = chooseEngine(config.server.engine);
  const engine: Engine = createEngine<Envelope>(choice.name, {
    host: config.server.host,
    port: config.server.port,
    wsPaths: webSockets.paths,
    ws: webSockets.handlers,
    routes,
    maxPayloadBytes: config.server.max_payload_bytes,
    maxBodyBytes: config.server.max_body_bytes,
    headTimeoutMs: config.server.request_head_timeout_ms,
    bodyTimeoutMs: config.server.request_body_timeout_ms,
    onError: (err) => logger.error({ err }, 'route handler failed'),
  });

  let port = 0;
  let closed = false;
  const closeAll = async () => {
    if (closed) return;
    closed = true;
    consoleFeed.close();
    for (const d of discovery) d.stop();
    voices.detach();
    loopLag.stop();
    await engine.close();
    await fleet.stop();
    await stopShared();
    await fallbackBackend?.close();
  };

  return {
    config,
    metrics,
    fleet,
    sessions,
    voices,
    discovery,
    engine: choice.name,
    get port() {
      return port;
    },
    async listen() {
      consoleFeed.start();
      // The first DNS answer is in the ring before the first call arrives.
      await Promise.all(discovery.map((d) => d.start()));
      // Instances that restarted while the gateway was away get the library's voices again.
      void voices.syncAll();
      port = await engine.listen();
      logger.info({ engine: choice.name, reason: choice.reason, host: config.server.host, port }, `listening on ${config.server.host}:${port} (engine ${choice.name})`);
      if (adminAuth.mode === 'loopback') {
        logger.warn({ admin: 'loopback' }, 'no admin key configured (auth.admin_keys, auth.api_keys): /admin/* answers requests from this machine only');
      }
      // Listening already (/health answers, /ready says `warming up`), but ready only once the
      // embedded engine's workers are warm: the first call is then as fast as the tenth. Health
      // checks start after, so no probe can time out against a worker still compiling and take
      // its instance down in the middle of the warm-up (/ready would flip back to 503).
      const warmStarted = performance.now();
      const warming = backends.filter((b) => b.whenWarm);
      await Promise.all(warming.map((b) => b.whenWarm?.()));
      if (warming.length > 0) {
        const scratchMetrics = new Metrics({ defaultMetrics: false });
        const scratch = createSessionFactory({ ...sessionDeps, metrics: scratchMetrics });
        const done = await warmUpStreamPath({ sessions: scratch, metrics: scratchMetrics, maxMessageBytes: config.session.max_message_bytes, calls: WARM_UP_CALLS, timeoutMs: WARM_UP_TURN_MS });
        if (!done) logger.debug('warm-up call did not finish its turn (the first call may be slower)');
      }
      warm = true;
      if (options.healthChecks !== false) fleet.startHealthChecks();
      if (backends.some((b) => b.whenWarm)) logger.info({ warm_up_ms: Math.round(performance.now() - warmStarted) }, 'embedded engine warm: ready');
      return port;
    },
    async shutdown(deadlineMs = config.server.drain_timeout_ms) {
      admission.draining = true;
      logger.info({ live: sessions.live.size, deadline_ms: deadlineMs }, 'draining: no new sessions, live calls finish their turn');
      // Keep listening while draining: load balancers' fresh health-check connections must see
      // /ready answer 503 (a closed port only says "unreachable"), and a late call gets a 503
      // with a reason rather than a connection refused (docs/deploy.md).
      // Every protocol's sessions: WebSocket calls and HTTP speech responses alike. Each is told
      // (the native protocol's `draining` event) and finishes the turn it is writing.
      for (const session of sessions.live) session.drain(deadlineMs);
      const drained = Promise.all([...sessions.live].map((session) => session.whenIdle()));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise((r) => (timer = setTimeout(r, deadlineMs)))]);
      clearTimeout(timer);
      await engine.stopListening();
      // Closes what is still open with 1001 (going away): the session metric counts it as shutdown.
      await closeAll();
    },
    close: closeAll,
  };
}
