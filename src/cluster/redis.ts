/**
 * The gateway's Redis (cluster.redis_url; docs/scaling.md): one owner of the connection and of
 * the one fact everything shared depends on, "is Redis usable now". Leases, shared pins, the
 * shared adaptive limit and the voice index all go through `command()`, so a Redis that is
 * unreachable or slower than `cluster.command_timeout_ms` is noticed in one place, logged once, counted
 * (`voicegate_cluster_redis_up`, `voicegate_cluster_fallback_total`) and announced with a typed
 * `down` event; callers then run on their local fallback until `up`.
 *
 * Redis down never stops a call: nothing here throws at start when Redis cannot be reached; the
 * client reconnects in the background.
 */
import { EventEmitter } from 'node:events';
import { ErrorReply, TimeoutError, TimeoutReadError, createClient } from 'redis';
import { VoicegateError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';

/** While down (or slow), Redis is probed with PING this often; one fast answer brings it back. */
export const REDIS_PROBE_MS = 500;
/** Reconnect back-off: 100 ms, 200 ms, … capped here, so a restarted Redis is found within it. */
const RECONNECT_MAX_MS = 1000;

export type RedisDownReason = 'unreachable' | 'slow' | 'error';

export interface ClusterRedisEvents {
  /** Redis answers again (after start, or after `down`). */
  up: [];
  /** Redis stopped answering (or answered too slowly): run on local state until `up`. */
  down: [reason: RedisDownReason];
}

export interface ClusterRedisOptions {
  /** cluster.redis_url. */
  readonly url: string;
  readonly logger: Logger;
  /** Default: none (no gauges). */
  readonly metrics?: Metrics;
  /** A command slower than this marks Redis down: cluster.command_timeout_ms (its default and why: src/config.ts). */
  readonly commandTimeoutMs: number;
  /** PING period while down. Default REDIS_PROBE_MS. */
  readonly probeMs?: number;
}

/** Thrown by `command()` while Redis is down or when the command failed or was too slow. */
export class RedisUnavailableError extends VoicegateError<'redis_unavailable'> {
  constructor(
    readonly reason: RedisDownReason,
    options?: ErrorOptions,
  ) {
    super('redis_unavailable', `redis unavailable (${reason})`, options);
  }
}

function newClient(url: string, connectTimeout: number) {
  return createClient({
    url,
    // A command while disconnected fails at once instead of queueing behind a reconnect.
    disableOfflineQueue: true,
    socket: { connectTimeout, reconnectStrategy: (retries: number) => Math.min(100 * (retries + 1), RECONNECT_MAX_MS) },
  });
}

export type RedisClient = ReturnType<typeof newClient>;

export class ClusterRedis extends EventEmitter<ClusterRedisEvents> {
  /** Commands (use through `command()`, which bounds and watches them). */
  readonly client: RedisClient;
  private subscriber: RedisClient | null = null;
  private readonly subscriptions = new Map<string, Set<(message: string) => void>>();
  private readonly options: ClusterRedisOptions;
  private readonly timeoutMs: number;
  private readonly bounded: RedisClient;
  private isUp = false;
  private probe: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(options: ClusterRedisOptions) {
    super();
    this.options = options;
    this.timeoutMs = options.commandTimeoutMs;
    this.client = newClient(options.url, Math.max(this.timeoutMs * 10, 500));
    // rejectInFlight: a command already sent but unanswered within the bound rejects too (the
    // server may still run it: callers make their commands idempotent or expiring).
    this.bounded = this.client.withCommandOptions({ timeout: this.timeoutMs, rejectInFlight: true }) as unknown as RedisClient;
    this.client.on('error', () => this.markDown('unreachable'));
    this.client.on('end', () => this.markDown('unreachable'));
    this.client.on('reconnecting', () => this.markDown('unreachable'));
    this.client.on('ready', () => this.startProbe());
    options.metrics?.clusterRedisUp.set(0);
  }

  /** Whether Redis answered within the bound last time it was asked. */
  get up(): boolean {
    return this.isUp;
  }

  /** Connects in the background; `up` fires once Redis answers. Never rejects. */
  start(): void {
    this.client.connect().catch(() => this.markDown('unreachable'));
  }

  /**
   * Runs `run` on the bounded client. While Redis is down it rejects at once with
   * RedisUnavailableError; a failure or a reply slower than the bound marks Redis down.
   */
  async command<T>(run: (client: RedisClient) => Promise<T>): Promise<T> {
    if (!this.isUp) throw new RedisUnavailableError('unreachable');
    try {
      return await run(this.bounded);
    } catch (error) {
      const reason: RedisDownReason = isTimeout(error) ? 'slow' : this.client.isReady ? 'error' : 'unreachable';
      // A script error (a bug, a wrong key type) is not Redis being down: the caller sees it as is.
      if (reason === 'error' && isReplyError(error)) throw error;
      this.markDown(reason);
      throw new RedisUnavailableError(reason, { cause: error });
    }
  }

  /** Publishes on `channel` (best effort: false when Redis is down). */
  async publish(channel: string, message: string): Promise<boolean> {
    try {
      await this.command((client) => client.publish(channel, message));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Calls `listener` for each message on `channel`, on a second connection (a subscribed
   * connection can run no other command). Messages published while Redis was down are lost:
   * subscribers keep a bounded poll as their safety net.
   */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    let listeners = this.subscriptions.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.subscriptions.set(channel, listeners);
      const set = listeners;
      this.subscriber ??= this.openSubscriber();
      await this.subscriber.subscribe(channel, (message: string) => {
        for (const l of set) l(message);
      }).catch(() => {
        // Not connected yet: node-redis re-subscribes on (re)connect.
      });
    }
    listeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
    const quit = async (client: RedisClient | null): Promise<void> => {
      if (!client?.isOpen) return;
      await client.close().catch(() => client.destroy());
    };
    await Promise.all([quit(this.client), quit(this.subscriber)]);
    this.isUp = false;
    this.options.metrics?.clusterRedisUp.set(0);
  }

  private openSubscriber(): RedisClient {
    const subscriber = this.client.duplicate();
    subscriber.on('error', () => {});
    subscriber.connect().catch(() => {});
    return subscriber;
  }

  private markDown(reason: RedisDownReason): void {
    if (this.closed) return;
    if (this.isUp) {
      this.isUp = false;
      this.options.metrics?.clusterRedisUp.set(0);
      this.options.metrics?.clusterFallback.inc({ reason });
      this.options.logger.warn({ reason }, 'redis unavailable: running on local slots and pins until it answers again');
      this.emit('down', reason);
    }
    if (reason === 'slow' || this.client.isReady) this.startProbe();
  }

  /** PINGs until one answer comes within the bound, then announces `up`. */
  private startProbe(): void {
    if (this.closed || this.probe) return;
    const check = async (): Promise<void> => {
      if (this.isUp || !this.client.isReady) return;
      const started = performance.now();
      try {
        await this.bounded.ping();
      } catch {
        return;
      }
      if (performance.now() - started > this.timeoutMs || this.isUp || this.closed) return;
      if (this.probe) clearInterval(this.probe);
      this.probe = null;
      this.isUp = true;
      this.options.metrics?.clusterRedisUp.set(1);
      this.options.logger.info('redis up: slots and pins are shared');
      this.emit('up');
    };
    this.probe = setInterval(() => void check(), this.options.probeMs ?? REDIS_PROBE_MS);
    this.probe.unref();
    void check();
  }
}

function isTimeout(error: unknown): boolean {
  return error instanceof TimeoutError || error instanceof TimeoutReadError;
}

/** An error reply from Redis (a script error, a wrong key type): Redis answered. */
function isReplyError(error: unknown): boolean {
  return error instanceof ErrorReply;
}
