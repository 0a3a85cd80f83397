/**
 * One instance of a pool with its live state: health (instance-health.ts), the sessions pinned
 * to it, its streams, drain, cool-down, membership (retiring, removed) and its learned limit.
 * Every counter is read-only from outside; the pool's parts change them through the methods
 * below, which keep the instance's gauges (gauges.ts) current in the same step.
 */
import type { Backend } from '../backends/backend.ts';
import type { InstanceConfig, PoolConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { AdaptiveLimit } from './adaptive-limit.ts';
import { InstanceGauges } from './gauges.ts';
import { InstanceHealth, probeSynthesis, type HealthTransition } from './instance-health.ts';
import type { LimitStore } from './limit-store.ts';
import type { Instance } from './router.ts';
import type { SlotClaim } from './slots.ts';

export type InstanceSpec = InstanceConfig & { id: string };

/** Why an adaptive limit moved, with the medians that moved it (adaptive-limit.ts). */
export interface LimitChange {
  readonly limit: number;
  readonly reason: string;
  readonly baselineMs: number;
  readonly medianMs: number;
}

export interface PoolInstanceOptions {
  readonly pool: PoolConfig;
  readonly spec: InstanceSpec;
  readonly backend: Backend;
  /** Gauges are kept current here. Default: none. */
  readonly metrics?: Metrics;
  /** Clock for ejection bookkeeping. Default Date.now. */
  readonly now?: () => number;
  /** See InstanceHealthOptions.overloaded. Default: never overloaded. */
  readonly overloaded?: () => boolean;
  /** Adaptive limits shared between replicas (limit-store.ts). Default: none. */
  readonly limitStore?: LimitStore;
  /** Its health changed (after the state did). */
  readonly onHealth: (instance: PoolInstance, transition: HealthTransition) => void;
  /** Its adaptive limit moved (pools[].capacity.mode adaptive). */
  readonly onLimit: (instance: PoolInstance, change: LimitChange) => void;
}

export class PoolInstance implements Instance {
  readonly id: string;
  readonly url: string;
  readonly pool: string;
  readonly weight: number;
  readonly maxConcurrency: number;
  readonly backend: Backend;
  readonly health: InstanceHealth;
  /** The learned stream limit (pools[].capacity.mode adaptive), else null. */
  readonly limiter: AdaptiveLimit | null;
  /** This instance as a one-claim list for the slot store, reused (no allocation per acquire). */
  readonly claims: readonly SlotClaim[];
  private readonly claim: { readonly instanceId: string; limit: number };
  private readonly gauges: InstanceGauges;
  /** Live connections per pinned session key (a session with two connections counts once). */
  private readonly connections = new Map<string, number>();
  private sessionCount = 0;
  private streamCount = 0;
  private isDraining = false;
  private isRetiring = false;
  private isRemoved = false;
  // healthy and available, derived from the state above and health's, recomputed on each change
  // of either (refresh): the ring walk reads `available` per instance it passes, a hot loop.
  private isHealthy = true;
  private isAvailable = true;
  /** performance.now() until which it takes no new streams (it said it is full). */
  private coolingUntil = 0;
  private coolTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: PoolInstanceOptions) {
    const { spec, pool } = options;
    this.id = spec.id;
    this.url = spec.url ?? '';
    this.pool = pool.name;
    this.weight = spec.weight;
    this.maxConcurrency = spec.max_concurrency;
    this.backend = options.backend;
    this.claim = { instanceId: spec.id, limit: 0 };
    this.claims = [this.claim];
    this.gauges = new InstanceGauges(options.metrics, pool.name, spec.id, spec.max_concurrency);
    const capacity = pool.capacity;
    this.limiter =
      capacity.mode === 'adaptive'
        ? new AdaptiveLimit({
            min: Math.min(capacity.min, spec.max_concurrency),
            max: Math.min(capacity.max ?? spec.max_concurrency, spec.max_concurrency),
            targetFirstAudioMs: capacity.target_first_audio_ms,
            onChange: (limit, reason, detail) => {
              this.gauges.setCapacity(limit);
              options.onLimit(this, { limit, reason, baselineMs: detail.baselineMs, medianMs: detail.medianMs });
            },
            store: options.limitStore,
            storeKey: `${pool.name}/${spec.id}`,
          })
        : null;
    this.health = new InstanceHealth({
      health: pool.health,
      check: (signal) => this.backend.check(signal),
      probe: () => probeSynthesis(this.backend, pool.voices[0]!, pool.timeouts.first_audio_ms),
      onTransition: (transition) => {
        this.refresh();
        options.onHealth(this, transition);
      },
      now: options.now,
      overloaded: options.overloaded,
    });
    this.gauges.setCapacity(this.limit);
    this.gauges.setUp(true);
  }

  /** Up by active checks, not ejected, and not removed. */
  get healthy(): boolean {
    return this.isHealthy;
  }

  get ejected(): boolean {
    return this.health.ejected;
  }

  /** Takes traffic for new sessions: healthy, not draining, still a member. */
  get available(): boolean {
    return this.isAvailable;
  }

  get draining(): boolean {
    return this.isDraining;
  }

  /** Out of the ring (removeInstance): pinned sessions carry on until they end. */
  get retiring(): boolean {
    return this.isRetiring;
  }

  /** Gone for good: its last session and stream ended after it retired. */
  get removed(): boolean {
    return this.isRemoved;
  }

  get sessions(): number {
    return this.sessionCount;
  }

  get streams(): number {
    return this.streamCount;
  }

  get limit(): number {
    return this.limiter ? this.limiter.limit : this.maxConcurrency;
  }

  /** Live connections of session `key` pinned here (0: not pinned here). */
  connectionsOf(key: string): number {
    return this.connections.get(key) ?? 0;
  }

  /** Whether a new stream may start now as far as health and cool-down go (not the count). */
  canStream(): boolean {
    return this.isHealthy && (this.coolingUntil === 0 || this.coolingUntil <= performance.now());
  }

  /** Gauges after a health, drain or membership change. */
  syncStateGauges(): void {
    this.gauges.setUp(this.healthy);
    this.gauges.setDraining(this.isDraining || this.isRetiring);
  }

  // ---- changed by the pool's parts only ----------------------------------------------------

  /** One more connection of `key`; true when the session is new here. */
  addConnection(key: string): boolean {
    const refs = this.connections.get(key) ?? 0;
    this.connections.set(key, refs + 1);
    if (refs > 0) return false;
    this.gauges.setSessions(++this.sessionCount);
    return true;
  }

  /** One connection of `key` ended; true when it was the session's last here, null when it was not pinned here. */
  dropConnection(key: string): boolean | null {
    const refs = this.connections.get(key);
    if (refs === undefined) return null;
    if (refs > 1) {
      this.connections.set(key, refs - 1);
      return false;
    }
    this.connections.delete(key);
    this.gauges.setSessions(--this.sessionCount);
    return true;
  }

  /** A slot was granted: the stream counts here and the adaptive limit hears its in-flight. */
  streamStarted(inFlightAtStart: number): void {
    this.gauges.setStreams(++this.streamCount);
    this.limiter?.inFlight(inFlightAtStart);
  }

  streamEnded(): void {
    this.gauges.setStreams(--this.streamCount);
  }

  /** The claim for the slot store with `limit` (reused object: read before the next claim). */
  claimWith(limit: number): readonly SlotClaim[] {
    this.claim.limit = limit;
    return this.claims;
  }

  /** False when unchanged. */
  setDraining(draining: boolean): boolean {
    if (this.isDraining === draining) return false;
    this.isDraining = draining;
    this.refresh();
    return true;
  }

  retire(): void {
    this.isRetiring = true;
    this.refresh();
  }

  rejoin(): void {
    this.isRetiring = false;
    this.refresh();
  }

  /**
   * No new streams until `ms` from now (it said it is full); `onOver` runs when the cool-down
   * ends. A shorter cool-down than the one running changes nothing.
   */
  coolDown(ms: number, onOver: () => void): void {
    const now = performance.now();
    this.limiter?.overflow(now);
    const until = now + ms;
    if (until <= this.coolingUntil) return;
    this.coolingUntil = until;
    if (this.coolTimer) clearTimeout(this.coolTimer);
    this.coolTimer = setTimeout(() => {
      this.coolTimer = null;
      this.coolingUntil = 0;
      onOver();
    }, ms);
    this.coolTimer.unref?.();
  }

  /** Timers and checks off (the pool stopped, or the instance is removed). */
  stop(): void {
    this.health.stop();
    if (this.coolTimer) clearTimeout(this.coolTimer);
    this.coolTimer = null;
  }

  /** Dropped for good: timers off, gauges leave /metrics. */
  markRemoved(): void {
    this.isRemoved = true;
    this.refresh();
    this.stop();
    this.gauges.remove();
  }

  private refresh(): void {
    const healthy = this.health.healthy;
    this.isHealthy = healthy && !this.isRemoved;
    this.isAvailable = healthy && !this.isDraining && !this.isRetiring;
  }
}
