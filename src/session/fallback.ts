/**
 * The fallback provider (Cartesia) as the session core sees it: one account shared by every
 * pool, with a plan limit on contexts at once. Its contexts in use are counted here, shown in
 * /admin/instances and in the instance gauges like an instance's streams, and a freed context
 * wakes the pools' wait queues.
 */
import type { Backend } from '../backends/backend.ts';
import type { FallbackConfig, TimeoutsConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { once, type Grant } from './grant.ts';

export const FALLBACK_PROVIDER = 'cartesia';
/** The `pool` label of the fallback's instance gauges. */
export const FALLBACK_POOL = 'fallback';

export class FallbackSlots {
  readonly provider = FALLBACK_PROVIDER;
  readonly backend: Backend;
  readonly timeouts: TimeoutsConfig;
  readonly capacity: number;
  private active = 0;
  /** Contexts in use per pool whose calls hold them (pool_demand_streams counts spills). */
  private readonly byPool = new Map<string, number>();
  private readonly voiceMap: Readonly<Record<string, string>>;
  private readonly listeners: (() => void)[] = [];
  private readonly gauge: { set(value: number): void } | null;

  constructor(backend: Backend, config: FallbackConfig, metrics?: Metrics) {
    this.backend = backend;
    this.timeouts = config.timeouts;
    this.capacity = config.max_concurrency;
    this.voiceMap = config.voice_map;
    if (metrics) {
      const labels = { pool: FALLBACK_POOL, instance: FALLBACK_PROVIDER };
      metrics.instanceCapacity.set(labels, this.capacity);
      this.gauge = metrics.instanceActiveStreams.labels(labels);
      this.gauge.set(0);
    } else {
      this.gauge = null;
    }
  }

  /** Contexts in use now. */
  get inUse(): number {
    return this.active;
  }

  get free(): number {
    return this.capacity - this.active;
  }

  /** Pool voice → fallback voice (mapCartesiaVoice over the fallback's voice_map). */
  voiceFor(voice: string): string {
    return mapCartesiaVoice(this.voiceMap, voice);
  }

  /** Called whenever a context frees (the pools' wait queues listen). */
  onRelease(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Contexts held now by calls of `pool`. */
  inUseBy(pool: string): number {
    return this.byPool.get(pool) ?? 0;
  }

  /** A context for a call of `pool` if the plan has one free now, else null. */
  tryAcquire(voice: string, pool: string): Grant | null {
    if (this.active >= this.capacity) return null;
    this.active++;
    this.byPool.set(pool, (this.byPool.get(pool) ?? 0) + 1);
    this.gauge?.set(this.active);
    return {
      provider: FALLBACK_PROVIDER,
      backend: this.backend,
      timeouts: this.timeouts,
      voice: this.voiceFor(voice),
      instance: null,
      inFlightAtStart: 0,
      release: once(() => {
        this.active--;
        this.byPool.set(pool, this.byPool.get(pool)! - 1);
        this.gauge?.set(this.active);
        for (const listener of this.listeners) listener();
      }),
    };
  }

  /** What GET /admin/instances shows of the fallback. */
  snapshot(): { pool: string; id: string; health: 'up'; healthy: true; draining: false; streams: number; capacity: number; fallback: true } {
    return { pool: FALLBACK_POOL, id: FALLBACK_PROVIDER, health: 'up', healthy: true, draining: false, streams: this.active, capacity: this.capacity, fallback: true };
  }
}

/**
 * A voicegate voice → the Cartesia voice id a `voice_map` names for it: its own entry, else
 * `default`, else the name itself (a client may name a Cartesia id directly). The one mapping,
 * for the fallback and for a pool whose backend is Cartesia alike; adapters never map again.
 */
export function mapCartesiaVoice(voiceMap: Readonly<Record<string, string>>, voice: string): string {
  return voiceMap[voice] ?? voiceMap.default ?? voice;
}
