/**
 * Every metric voicegate exports (names: DESIGN.md §6), on one registry per gateway so that
 * tests can run several gateways in one process. Labels are bounded: pool, instance (from
 * config), provider (instance id or `cartesia`), kind/reason/outcome (fixed sets). Never a
 * session id.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Voice latency buckets, 5 ms … 10 s: fine where callers notice (50–500 ms). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10];
/** Real-time factor buckets: < 1 is faster than real time. */
export const RTF_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5];

export const PREFIX = 'voicegate_';

export class Metrics {
  readonly registry = new Registry();

  // Per instance (labels pool, instance).
  readonly instanceUp: Gauge<'pool' | 'instance'>;
  readonly instanceDraining: Gauge<'pool' | 'instance'>;
  readonly instanceCapacity: Gauge<'pool' | 'instance'>;
  readonly instanceCapacityConfigured: Gauge<'pool' | 'instance'>;
  readonly instanceActiveStreams: Gauge<'pool' | 'instance'>;
  readonly instanceSessions: Gauge<'pool' | 'instance'>;
  readonly ttfb: Histogram<'pool' | 'instance'>;
  readonly rtf: Histogram<'pool' | 'instance'>;
  readonly backendErrors: Counter<'pool' | 'instance' | 'kind'>;

  // Gateway.
  readonly sessionsActive: Gauge;
  readonly sessionsTotal: Counter<'outcome'>;
  readonly ttfa: Histogram;
  readonly segmentWait: Histogram;
  readonly failovers: Counter<'from' | 'to' | 'reason'>;
  readonly audioSeconds: Counter<'provider'>;
  readonly characters: Counter<'provider'>;
  readonly clientBackpressure: Counter;

  // The pools' wait queues (docs/failover.md "When the whole fleet is full").
  readonly queueDepth: Gauge<'pool' | 'class'>;
  readonly queueWait: Histogram<'pool' | 'class'>;
  readonly poolDemand: Gauge<'pool'>;
  /** Per pool, what pool_demand_streams reads at each scrape (the session factory registers them). */
  readonly demandSources = new Map<string, () => number>();
  readonly segmentsGivenUp: Counter<'pool' | 'reason'>;

  // Replicas and workers (src/cluster/, docs/scaling.md).
  readonly clusterRedisUp: Gauge;
  readonly clusterFallback: Counter<'reason'>;

  /** With workers, /metrics answers for the whole process set (src/cluster/workers.ts). */
  private readonly renderAll: (() => Promise<string>) | undefined;

  /**
   * `renderAll`: what render() answers instead of this registry alone (a worker asks its
   * primary, which aggregates every worker's clusterJson()).
   */
  constructor(options: { defaultMetrics?: boolean; renderAll?: () => Promise<string> } = {}) {
    this.renderAll = options.renderAll;
    const registers = [this.registry];
    const instanceLabels = ['pool', 'instance'] as const;
    this.instanceUp = new Gauge({ name: `${PREFIX}instance_up`, aggregator: 'max', help: '1 when the instance passes health checks and is not ejected, else 0.', labelNames: instanceLabels, registers });
    this.instanceDraining = new Gauge({ name: `${PREFIX}instance_draining`, aggregator: 'max', help: '1 while the instance is draining (no new sessions).', labelNames: instanceLabels, registers });
    this.instanceCapacity = new Gauge({ name: `${PREFIX}instance_capacity`, aggregator: 'max', help: 'Synthesis streams the instance takes now: max_concurrency, or its learned limit with pools[].capacity.mode adaptive.', labelNames: instanceLabels, registers });
    this.instanceCapacityConfigured = new Gauge({ name: `${PREFIX}instance_capacity_configured`, aggregator: 'max', help: 'Synthesis streams the instance takes at most as configured (max_concurrency).', labelNames: instanceLabels, registers });
    this.instanceActiveStreams = new Gauge({ name: `${PREFIX}instance_active_streams`, help: 'Synthesis requests in flight on the instance.', labelNames: instanceLabels, registers });
    this.instanceSessions = new Gauge({ name: `${PREFIX}instance_sessions`, help: 'Sessions pinned to the instance.', labelNames: instanceLabels, registers });
    this.ttfb = new Histogram({ name: `${PREFIX}tts_ttfb_seconds`, help: 'Backend request sent to first audio byte received, per instance.', labelNames: instanceLabels, buckets: LATENCY_BUCKETS, registers });
    this.rtf = new Histogram({ name: `${PREFIX}tts_rtf`, help: 'Real-time factor per segment: synthesis time / audio duration.', labelNames: instanceLabels, buckets: RTF_BUCKETS, registers });
    this.backendErrors = new Counter({ name: `${PREFIX}backend_errors_total`, help: 'Backend request failures by kind (connect, timeout, http_4xx, http_429, http_5xx, protocol, closed); our own cancellations are not counted.', labelNames: ['pool', 'instance', 'kind'], registers });

    this.sessionsActive = new Gauge({ name: `${PREFIX}sessions_active`, help: 'Client sessions open now.', registers });
    this.sessionsTotal = new Counter({ name: `${PREFIX}sessions_total`, help: 'Client sessions ended, by outcome (ok, client_error, rejected: refused for lack of capacity, shutdown).', labelNames: ['outcome'], registers });
    this.ttfa = new Histogram({ name: `${PREFIX}ttfa_seconds`, help: "Time to first audio: a segment's last text (or flush) to its first audio sent to the client.", buckets: LATENCY_BUCKETS, registers });
    this.segmentWait = new Histogram({ name: `${PREFIX}segment_wait_seconds`, help: 'Segmenter hold time: first text of a segment to the segment being cut.', buckets: LATENCY_BUCKETS, registers });
    this.failovers = new Counter({ name: `${PREFIX}failovers_total`, help: 'Segments moved to another provider, by from, to and reason (overflow, unhealthy, ejected, timeout, stall, connect, http_5xx, protocol, closed, restored, pin_change).', labelNames: ['from', 'to', 'reason'], registers });
    this.audioSeconds = new Counter({ name: `${PREFIX}audio_seconds_total`, help: 'Seconds of audio sent to clients, by provider (instance id or cartesia).', labelNames: ['provider'], registers });
    this.characters = new Counter({ name: `${PREFIX}characters_total`, help: 'Characters sent to providers for synthesis (Cartesia bills characters).', labelNames: ['provider'], registers });
    this.clientBackpressure = new Counter({ name: `${PREFIX}client_backpressure_total`, help: 'Times a client socket buffer was full and audio was held back.', registers });

    this.queueDepth = new Gauge({ name: `${PREFIX}queue_depth`, help: "Segments waiting for capacity in the pool's wait queue, by class (continuing, new_turn, http).", labelNames: ['pool', 'class'], registers });
    this.queueWait = new Histogram({ name: `${PREFIX}queue_wait_seconds`, help: "Time a segment waited in the pool's wait queue before a slot (or giving up), by class.", labelNames: ['pool', 'class'], buckets: LATENCY_BUCKETS, registers });
    const demandSources = this.demandSources;
    this.poolDemand = new Gauge({
      name: `${PREFIX}pool_demand_streams`,
      help: "Streams the pool's calls want now: in flight on its instances + waiting + spilled to the fallback (the autoscaling signal).",
      labelNames: ['pool'],
      registers,
      collect() {
        for (const [pool, demand] of demandSources) this.set({ pool }, demand());
      },
    });
    this.segmentsGivenUp = new Counter({ name: `${PREFIX}segments_given_up_total`, help: 'Segments not spoken because no provider had capacity within session.max_wait_ms, by pool and reason.', labelNames: ['pool', 'reason'], registers });

    this.clusterRedisUp = new Gauge({ name: `${PREFIX}cluster_redis_up`, aggregator: 'min', help: '1 while cluster.redis_url answers within cluster.command_timeout_ms; 0 while this process runs on local slots and pins (or no Redis is configured).', registers });
    this.clusterFallback = new Counter({ name: `${PREFIX}cluster_fallback_total`, help: 'Times this process fell back from Redis to local slots and pins, by reason (unreachable, slow, error).', labelNames: ['reason'], registers });

    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Starts a pool's queue series at 0, so dashboards and alerts see them before the first wait. */
  registerPool(pool: string, classes: readonly string[]): void {
    for (const klass of classes) this.queueDepth.set({ pool, class: klass }, 0);
    this.poolDemand.set({ pool }, 0);
    this.segmentsGivenUp.inc({ pool, reason: 'max_wait' }, 0);
  }

  /** Sets the static gauges of an instance so it shows in /metrics before any traffic. */
  registerInstance(pool: string, instance: string, capacity: number): void {
    this.instanceCapacity.set({ pool, instance }, capacity);
    this.instanceCapacityConfigured.set({ pool, instance }, capacity);
    this.instanceActiveStreams.set({ pool, instance }, 0);
    this.instanceSessions.set({ pool, instance }, 0);
    this.instanceDraining.set({ pool, instance }, 0);
    this.registerProvider(instance);
  }

  /**
   * Starts a provider's counters at 0, so the first burst after start shows in rate() and
   * increase() (a labelled counter is otherwise born at its first increment).
   */
  registerProvider(provider: string): void {
    this.audioSeconds.inc({ provider }, 0);
    this.characters.inc({ provider }, 0);
  }

  async render(): Promise<string> {
    return this.renderAll ? this.renderAll() : this.registry.metrics();
  }

  /**
   * This process's metrics for aggregation across workers (AggregatorRegistry.aggregate):
   * voicegate_* series keep their aggregator (sum by default; `max` for per-instance state every
   * worker sees alike, `min` for cluster_redis_up), while process and runtime metrics (process_*,
   * nodejs_*) get a `worker` label with this pid, so each worker's own stays visible.
   */
  async clusterJson(worker: string = String(process.pid)): Promise<MetricJson[]> {
    const all = (await this.registry.getMetricsAsJSON()) as unknown as MetricJson[];
    return all.map((metric) => {
      if (metric.name.startsWith(PREFIX)) return metric;
      return { ...metric, aggregator: 'sum', values: metric.values.map((value) => ({ ...value, labels: { ...value.labels, worker } })) };
    });
  }
}

/** One metric as prom-client's getMetricsAsJSON gives it (the part aggregation reads). */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}
