/**
 * The gateway: config → fleet (pools, routing, health) → session factory → transport engine
 * with the native stream protocol and HTTP routes. main.ts adds signals; tests and benchmarks
 * build gateways directly.
 */
import { createAudioOutput } from './audio/output.ts';
import type { Backend } from './backends/backend.ts';
import { createCartesiaBackend } from './backends/cartesia.ts';
import { createBackend } from './backends/index.ts';
import type { Config } from './config.ts';
import { silentLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { DnsDiscovery, type Resolver } from './routing/discovery.ts';
import { Fleet } from './routing/fleet.ts';
import { LoopLagMonitor } from './routing/loop-lag.ts';
import { Admission } from './server/admission.ts';
import { adminRoutes } from './server/admin.ts';
import { createAuthorizer } from './server/auth.ts';
import type { Engine, HttpRoute } from './server/engine.ts';
import { healthRoutes } from './server/http-routes.ts';
import { chooseEngine, createEngine } from './server/select.ts';
import { speechRoutes } from './server/speech-routes.ts';
import { STREAM_PATH, streamHandlers, type StreamState } from './server/stream-route.ts';
import { createSessionFactory, type SessionFactory } from './session/factory.ts';
import { FALLBACK_PROVIDER } from './session/synthesizer.ts';
import { normalizeForSpeech } from './text/normalize.ts';
import { createSegmenter } from './text/segmenter.ts';
import { voiceRoutes } from './server/voice-routes.ts';
import { VoiceLibrary } from './voices/library.ts';
import { withLibraryVoices } from './voices/listing.ts';

export interface GatewayOptions {
  readonly config: Config;
  readonly logger?: Logger;
  /** A fresh registry per gateway unless given. */
  readonly metrics?: Metrics;
  /** Starts active health checks (default true). */
  readonly healthChecks?: boolean;
  /** DNS resolver of pools with `discovery` (default: node:dns lookup; tests inject a fake). */
  readonly resolveDns?: Resolver;
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
  const voices = await VoiceLibrary.open(config, logger);
  const fleet = new Fleet({
    pools: config.pools,
    metrics,
    overloaded: () => loopLag.overloaded,
    createBackend: (pool, instance) => voices.wrapBackend(pool, instance.id, createBackend(pool, instance, { metrics, logger })),
  });
  voices.attach(fleet);
  fleet.on('instance', (event) => logger.info(event, `instance ${event.type}`));
  const discovery = config.pools.flatMap((pool) => {
    if (!pool.discovery) return [];
    const d = new DnsDiscovery({ pool: fleet.pool(pool.name)!, config: pool.discovery, resolve: options.resolveDns });
    d.on('change', (change) => logger.info(change, `discovery: ${change.added.length} joined, ${change.removed.length} left (${change.members} discovered)`));
    d.on('failed', ({ pool: name, dns, error }) => logger.warn({ pool: name, dns, err: error }, 'discovery: resolution failed; instances unchanged'));
    return [d];
  });
  const fallbackBackend: Backend | null = config.fallback ? createCartesiaBackend(config.fallback, { metrics, logger }) : null;
  if (fallbackBackend) metrics.registerProvider(FALLBACK_PROVIDER);

  const sessions = createSessionFactory({
    config,
    fleet,
    fallback: fallbackBackend,
    metrics,
    logger,
    createSegmenter: (opts) => createSegmenter({ language: opts.language, eagerFirst: opts.eagerFirst }),
    createOutput: (format, onFrame) => createAudioOutput(format, onFrame),
    normalize: normalizeForSpeech,
  });

  const authorize = createAuthorizer(config.auth.api_keys);
  const admission = new Admission({
    maxSessions: config.server.max_sessions,
    refuseWhenLagging: config.server.refuse_when_lagging,
    liveSessions: () => sessions.live.size,
    lagging: () => loopLag.overloaded,
  });
  const routes: HttpRoute[] = [
    ...healthRoutes({
      metrics,
      authorizeMetrics: config.auth.protect_metrics ? authorize : () => true,
      ready: () => {
        if (admission.draining) return { ready: false, reason: 'shutting down' };
        if (admission.full) return { ready: false, reason: 'at capacity (server.max_sessions)' };
        if (fleet.anyUp()) return { ready: true, reason: 'instances up' };
        if (fallbackBackend) return { ready: true, reason: 'fallback configured' };
        return { ready: false, reason: 'no instance up and no fallback' };
      },
    }),
    ...adminRoutes(fleet, authorize),
    ...speechRoutes({ sessions, config, authorize, metrics, logger, admission, listVoices: (listing) => withLibraryVoices(listing, voices, config.pools) }),
    ...voiceRoutes({ library: voices, config, authorize, logger }),
  ];

  const choice = chooseEngine(config.server.engine);
  const engine: Engine = createEngine<StreamState>(choice.name, {
    host: config.server.host,
    port: config.server.port,
    wsPaths: [STREAM_PATH],
    ws: streamHandlers({ sessions, authorize, metrics, logger, maxMessageBytes: config.session.max_message_bytes, admission }),
    routes,
    maxPayloadBytes: config.server.max_payload_bytes,
    maxBodyBytes: config.server.max_body_bytes,
    onError: (err) => logger.error({ err }, 'route handler failed'),
  });

  let port = 0;
  let closed = false;
  const closeAll = async () => {
    if (closed) return;
    closed = true;
    for (const d of discovery) d.stop();
    voices.detach();
    loopLag.stop();
    await engine.close();
    await fleet.stop();
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
      if (options.healthChecks !== false) fleet.startHealthChecks();
      // The first DNS answer is in the ring before the first call arrives.
      await Promise.all(discovery.map((d) => d.start()));
      // Instances that restarted while the gateway was away get the library's voices again.
      void voices.syncAll();
      port = await engine.listen();
      logger.info({ engine: choice.name, reason: choice.reason, host: config.server.host, port }, `listening on ${config.server.host}:${port} (engine ${choice.name})`);
      return port;
    },
    async shutdown(deadlineMs = config.server.drain_timeout_ms) {
      admission.draining = true;
      logger.info({ live: sessions.live.size, deadline_ms: deadlineMs }, 'draining: no new sessions, live calls finish their turn');
      // Keep listening while draining: load balancers' fresh health-check connections must see
      // /ready answer 503 (a closed port only says "unreachable"), and a late call gets a 503
      // with a reason rather than a connection refused (docs/deploy.md).
      // Every protocol's sessions: WebSocket calls and HTTP speech responses alike.
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
