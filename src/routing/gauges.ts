/**
 * The per-instance gauges of one pool instance (DESIGN.md §6): voicegate_instance_up,
 * _draining, _sessions, _active_streams, _capacity (and _capacity_configured, set once).
 * Children are bound once per instance, so keeping them current allocates nothing; without a
 * Metrics (tests, tools) every setter is a no-op.
 */
import type { Metrics } from '../metrics.ts';

type GaugeChild = { set(value: number): void };
const NO_GAUGE: GaugeChild = { set() {} };

export class InstanceGauges {
  private up: GaugeChild = NO_GAUGE;
  private draining: GaugeChild = NO_GAUGE;
  private sessions: GaugeChild = NO_GAUGE;
  private streams: GaugeChild = NO_GAUGE;
  private capacity: GaugeChild = NO_GAUGE;
  private metrics: Metrics | undefined;

  constructor(
    metrics: Metrics | undefined,
    private readonly pool: string,
    private readonly instance: string,
    maxConcurrency: number,
  ) {
    this.metrics = metrics;
    if (!metrics) return;
    const labels = { pool, instance };
    metrics.registerInstance(pool, instance, maxConcurrency);
    this.up = metrics.instanceUp.labels(labels);
    this.draining = metrics.instanceDraining.labels(labels);
    this.sessions = metrics.instanceSessions.labels(labels);
    this.streams = metrics.instanceActiveStreams.labels(labels);
    this.capacity = metrics.instanceCapacity.labels(labels);
  }

  setUp(up: boolean): void {
    this.up.set(up ? 1 : 0);
  }

  setDraining(draining: boolean): void {
    this.draining.set(draining ? 1 : 0);
  }

  setSessions(n: number): void {
    this.sessions.set(n);
  }

  setStreams(n: number): void {
    this.streams.set(n);
  }

  setCapacity(limit: number): void {
    this.capacity.set(limit);
  }

  /** The instance left for good: its series leave /metrics and later sets are no-ops. */
  remove(): void {
    const metrics = this.metrics;
    this.metrics = undefined;
    this.up = this.draining = this.sessions = this.streams = this.capacity = NO_GAUGE;
    if (!metrics) return;
    const labels = { pool: this.pool, instance: this.instance };
    for (const gauge of [metrics.instanceUp, metrics.instanceDraining, metrics.instanceCapacity, metrics.instanceCapacityConfigured, metrics.instanceActiveStreams, metrics.instanceSessions]) gauge.remove(labels);
  }
}
