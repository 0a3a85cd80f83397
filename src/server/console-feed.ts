/**
 * The console's live view of the gateway (docs/console.md): pools and instances, calls, the
 * fallback's use and recent instance events, pushed to subscribers every `pushMs`.
 *
 * One source: instance state is what GET /admin/instances shows (Fleet.snapshot() with the
 * pools' wait queues: admin.ts instanceStatuses) and every figure comes from the Metrics
 * registry that /metrics renders; TTFB quantiles and error counts are taken over the last
 * `windowMs` by differencing the registry's own cumulative counters, the way Prometheus'
 * rate()/histogram_quantile() would.
 */
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { InstanceEvent } from '../routing/events.ts';
import type { Fleet } from '../routing/fleet.ts';
import type { SessionFactory, SessionRequest } from '../session/factory.ts';
import type { Session } from '../session/session.ts';
import { FALLBACK_PROVIDER } from '../session/fallback.ts';
import { instanceStatuses, type InstanceStatus } from './admin.ts';

export interface ConsoleFeedOptions {
  readonly config: Config;
  readonly fleet: Fleet;
  readonly metrics: Metrics;
  readonly calls: CallRegistry;
  /** How often subscribers get a fresh view. Default 500 ms (the console promises ≤ 1 s). */
  readonly pushMs?: number;
  /** Window of the TTFB quantiles, error and failover counts. Default 60 000 ms. */
  readonly windowMs?: number;
  /** Instance events kept for the page. Default 30. */
  readonly maxEvents?: number;
  /** Clock (epoch ms). Default Date.now. */
  readonly now?: () => number;
}

export interface InstanceView extends InstanceStatus {
  /** Over the window; null without a request in it. */
  ttfb_p50_ms: number | null;
  ttfb_p95_ms: number | null;
  /** Backend errors in the window, by kind. */
  errors: Record<string, number>;
}

export interface PoolView {
  name: string;
  backend: string;
  voices: string[];
  instances: InstanceView[];
  /** Sums over the pool's instances. */
  streams: number;
  capacity: number;
  sessions: number;
  /** Segments in the pool's wait queue whose session is pinned to one of its instances (Σ InstanceStatus.queued). */
  queued: number;
  /** The pool's fair wait queue by class (voicegate_queue_depth), and its total. */
  wait_queue: Record<string, number>;
  waiting: number;
  /** Segments given up in the window (voicegate_segments_given_up_total). */
  given_up: number;
}

export interface CallView {
  session_id: string;
  pool: string;
  pin: string;
  voice: string;
  protocol: string;
  audio_s: number;
  segments: number;
  failovers: number;
  age_s: number;
}

export interface ConsoleView {
  /** Epoch ms when the view was built. */
  t: number;
  window_s: number;
  sessions_active: number;
  pools: PoolView[];
  /** Contexts in use against the cap (as /admin/instances lists them), audio, segments moved in. */
  fallback: { configured: boolean; streams: number; capacity: number; audio_s: number; failovers_in: number };
  failovers: number;
  events: { t: number; type: string; pool: string; instance: string; reason?: string }[];
  calls: CallView[];
}

type CallInfo = { readonly id: string; readonly protocol: string; readonly startedAt: number };

/**
 * The live calls with what the session itself does not carry (its id and front end): each
 * front end's factory is wrapped by `forProtocol`, so sessions are listed whatever protocol
 * created them. Read-only over SessionFactory.live.
 */
export class CallRegistry {
  private readonly info = new WeakMap<Session, CallInfo>();

  constructor(
    readonly sessions: SessionFactory,
    private readonly now: () => number = Date.now,
  ) {}

  /** The same factory, recording which front end created each session. */
  forProtocol(protocol: string): SessionFactory {
    const { sessions, info, now } = this;
    // Everything but create() is the factory's own, through the prototype, whatever it grows.
    const wrapped = Object.create(sessions) as SessionFactory;
    return Object.assign(wrapped, {
      create(request: SessionRequest) {
        const session = sessions.create(request);
        info.set(session, { id: request.id, protocol, startedAt: now() });
        return session;
      },
    });
  }

  list(): CallView[] {
    const now = this.now();
    const out: CallView[] = [];
    for (const session of this.sessions.live) {
      const info = this.info.get(session);
      out.push({
        session_id: info?.id ?? '',
        pool: session.poolName,
        pin: session.pinId,
        voice: session.voice,
        protocol: info?.protocol ?? 'other',
        audio_s: Math.round(session.stats.audioMs / 100) / 10,
        segments: session.stats.segments,
        failovers: session.stats.failovers,
        age_s: info ? Math.round((now - info.startedAt) / 100) / 10 : 0,
      });
    }
    return out;
  }
}

/** Prometheus' histogram_quantile over cumulative bucket counts (upper bounds `le`, +Inf last). */
export function histogramQuantile(q: number, le: readonly number[], cumulative: readonly number[]): number | null {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < cumulative.length; i++) {
    if (cumulative[i] < rank) continue;
    const upper = le[i];
    // Quantile in the +Inf bucket: the highest finite bound, as Prometheus answers.
    if (!Number.isFinite(upper)) return le[i - 1] ?? null;
    const lower = i === 0 ? 0 : le[i - 1];
    const below = i === 0 ? 0 : cumulative[i - 1];
    const inBucket = cumulative[i] - below;
    return inBucket <= 0 ? upper : lower + (upper - lower) * ((rank - below) / inBucket);
  }
  return le[le.length - 2] ?? null;
}

/** Cumulative counts read off the registry at one moment. */
interface Sample {
  t: number;
  /** pool|instance → cumulative TTFB bucket counts (le order, +Inf last). */
  ttfb: Map<string, number[]>;
  /** pool|instance|kind → backend errors so far. */
  errors: Map<string, number>;
  failovers: number;
  failoversToFallback: number;
  /** pool → segments given up so far. */
  givenUp: Map<string, number>;
}

export interface FeedSubscriber {
  view(view: ConsoleView): void;
  /** The feed closed (the gateway is stopping): end the response. */
  end(): void;
}

const instanceKey = (pool: string, instance: string) => `${pool}|${instance}`;

export class ConsoleFeed {
  private readonly pushMs: number;
  private readonly windowMs: number;
  private readonly maxEvents: number;
  private readonly now: () => number;
  private readonly subscribers = new Set<FeedSubscriber>();
  private readonly events: ConsoleView['events'] = [];
  /** Samples over the window, oldest first. */
  private readonly history: Sample[] = [];
  private le: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private pushing = false;
  private eventPending = false;
  private closed = false;
  private readonly onInstance = (event: InstanceEvent) => {
    this.events.push({ t: this.now(), type: event.type, pool: event.pool, instance: event.instance, ...(event.reason !== undefined ? { reason: event.reason } : {}) });
    if (this.events.length > this.maxEvents) this.events.shift();
    // A state change goes out at once rather than at the next tick.
    if (!this.eventPending && this.subscribers.size > 0) {
      this.eventPending = true;
      setImmediate(() => {
        this.eventPending = false;
        void this.push();
      });
    }
  };

  constructor(private readonly options: ConsoleFeedOptions) {
    this.pushMs = options.pushMs ?? 500;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxEvents = options.maxEvents ?? 30;
    this.now = options.now ?? Date.now;
    options.fleet.on('instance', this.onInstance);
  }

  /** Starts sampling and pushing (the windows need samples from before the page opened). */
  start(): void {
    if (this.timer || this.closed) return;
    void this.sample();
    this.timer = setInterval(() => void this.push(), this.pushMs);
    this.timer.unref();
  }

  /** Sends the current view, then every new one, until the returned function is called. */
  subscribe(subscriber: FeedSubscriber): () => void {
    this.subscribers.add(subscriber);
    void this.view().then((view) => {
      if (this.subscribers.has(subscriber)) subscriber.view(view);
    });
    return () => void this.subscribers.delete(subscriber);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const subscribers = [...this.subscribers];
    this.subscribers.clear();
    for (const s of subscribers) s.end();
    this.options.fleet.off('instance', this.onInstance);
  }

  private async push(): Promise<void> {
    if (this.pushing || this.closed) return;
    this.pushing = true;
    try {
      await this.sample();
      if (this.subscribers.size === 0) return;
      const view = await this.view();
      for (const s of this.subscribers) s.view(view);
    } finally {
      this.pushing = false;
    }
  }

  /** Records the registry's cumulative counters and drops samples older than the window. */
  private async sample(): Promise<void> {
    const { metrics } = this.options;
    const [ttfb, errors, failovers, givenUp] = await Promise.all([metrics.ttfb.get(), metrics.backendErrors.get(), metrics.failovers.get(), metrics.segmentsGivenUp.get()]);
    const sample: Sample = { t: this.now(), ttfb: new Map(), errors: new Map(), failovers: 0, failoversToFallback: 0, givenUp: new Map() };
    for (const v of givenUp.values) sample.givenUp.set(String(v.labels.pool), (sample.givenUp.get(String(v.labels.pool)) ?? 0) + v.value);
    const le: number[] = [];
    for (const v of ttfb.values) {
      if (v.metricName !== `${ttfb.name}_bucket`) continue;
      const key = instanceKey(String(v.labels.pool), String(v.labels.instance));
      let counts = sample.ttfb.get(key);
      if (!counts) sample.ttfb.set(key, (counts = []));
      counts.push(v.value);
      // prom-client's bucket values carry `le` beside the metric's own labels.
      const bound = (v.labels as Record<string, string | number | undefined>).le;
      if (sample.ttfb.size === 1) le.push(bound === '+Inf' ? Infinity : Number(bound));
    }
    if (le.length > 0) this.le = le;
    for (const v of errors.values) sample.errors.set(`${instanceKey(String(v.labels.pool), String(v.labels.instance))}|${v.labels.kind}`, v.value);
    for (const v of failovers.values) {
      sample.failovers += v.value;
      if (v.labels.to === FALLBACK_PROVIDER) sample.failoversToFallback += v.value;
    }
    this.history.push(sample);
    const horizon = sample.t - this.windowMs;
    // Keep one sample at or before the horizon: it is the window's baseline.
    while (this.history.length > 2 && this.history[1].t <= horizon) this.history.shift();
  }

  /** The current view (also served once to a new subscriber). */
  async view(): Promise<ConsoleView> {
    if (this.history.length === 0) await this.sample();
    const { fleet, metrics, config, calls } = this.options;
    const latest = this.history[this.history.length - 1];
    const base = this.history[0] === latest ? null : this.history[0];
    const snapshots = instanceStatuses(fleet.snapshot(), calls.sessions.queues);
    const depth = await metrics.queueDepth.get();
    const pools: PoolView[] = config.pools.map((pool) => {
      const instances = snapshots.filter((s) => s.pool === pool.name).map((s) => this.instanceView(s, latest, base));
      const wait_queue: Record<string, number> = {};
      for (const v of depth.values) if (v.labels.pool === pool.name) wait_queue[String(v.labels.class)] = v.value;
      return {
        name: pool.name,
        backend: pool.backend,
        voices: [...pool.voices],
        instances,
        streams: instances.reduce((n, i) => n + i.streams, 0),
        capacity: instances.reduce((n, i) => n + i.capacity, 0),
        sessions: instances.reduce((n, i) => n + i.sessions, 0),
        queued: instances.reduce((n, i) => n + i.queued, 0),
        wait_queue,
        waiting: Object.values(wait_queue).reduce((n, k) => n + k, 0),
        given_up: (latest.givenUp.get(pool.name) ?? 0) - (base?.givenUp.get(pool.name) ?? 0),
      };
    });
    const audio = await metrics.audioSeconds.get();
    const fallbackAudio = audio.values.find((v) => v.labels.provider === FALLBACK_PROVIDER)?.value ?? 0;
    const active = (await metrics.sessionsActive.get()).values[0]?.value ?? 0;
    const fallbackSlots = calls.sessions.fallback?.snapshot();
    return {
      t: latest.t,
      window_s: Math.round(this.windowMs / 1000),
      sessions_active: active,
      pools,
      fallback: {
        configured: config.fallback !== undefined && config.fallback !== null,
        streams: fallbackSlots?.streams ?? 0,
        capacity: fallbackSlots?.capacity ?? 0,
        audio_s: Math.round(fallbackAudio * 10) / 10,
        failovers_in: latest.failoversToFallback - (base?.failoversToFallback ?? 0),
      },
      failovers: latest.failovers - (base?.failovers ?? 0),
      events: [...this.events].reverse(),
      calls: calls.list(),
    };
  }

  private instanceView(snap: InstanceStatus, latest: Sample, base: Sample | null): InstanceView {
    const key = instanceKey(snap.pool, snap.id);
    const now = latest.ttfb.get(key);
    let p50: number | null = null;
    let p95: number | null = null;
    if (now) {
      const before = base?.ttfb.get(key);
      const window = before ? now.map((c, i) => c - (before[i] ?? 0)) : now;
      p50 = histogramQuantile(0.5, this.le, window);
      p95 = histogramQuantile(0.95, this.le, window);
    }
    const errors: Record<string, number> = {};
    const prefix = `${key}|`;
    for (const [k, count] of latest.errors) {
      if (!k.startsWith(prefix)) continue;
      const delta = count - (base?.errors.get(k) ?? 0);
      if (delta > 0) errors[k.slice(prefix.length)] = delta;
    }
    const ms = (s: number | null) => (s === null ? null : Math.round(s * 10_000) / 10);
    return { ...snap, ttfb_p50_ms: ms(p50), ttfb_p95_ms: ms(p95), errors };
  }
}
