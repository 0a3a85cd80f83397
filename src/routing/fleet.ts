/**
 * The gateway's pools: built from config, one Router per pool, instance lookup for operations,
 * health checks for all, and one typed event stream of instance state changes.
 *
 *   const fleet = new Fleet({ pools: config.pools, createBackend, metrics });
 *   fleet.on('instance', (e) => log.info(e, `instance ${e.type}`));
 *   fleet.startHealthChecks();
 */
import { EventEmitter } from 'node:events';
import type { Backend } from '../backends/backend.ts';
import type { PoolConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { RoutingError } from './errors.ts';
import type { FleetEvents, InstanceEvent } from './events.ts';
import type { LimitStore } from './limit-store.ts';
import type { PinStore } from './pins.ts';
import type { InstanceSpec } from './instance.ts';
import { Pool } from './pool.ts';
import type { Instance, Router } from './router.ts';
import type { InstanceSnapshot } from './snapshot.ts';
import type { SlotStore } from './slots.ts';

export interface FleetOptions {
  /** Pools in config order; the first is the default pool. */
  readonly pools: readonly PoolConfig[];
  /** Builds the Backend adapter of one instance (the instance's id is always set). */
  readonly createBackend: (pool: PoolConfig, instance: InstanceSpec) => Backend;
  /** Instance gauges (DESIGN.md §6) are kept current on it. */
  readonly metrics: Metrics;
  /** Clock for ejection bookkeeping. Default Date.now. */
  readonly now?: () => number;
  /** Ring virtual nodes per unit of weight. Default 320 (ring.ts). */
  readonly vnodes?: number;
  /** See PoolOptions.overloaded. */
  readonly overloaded?: () => boolean;
  /** See PoolOptions.limitStore. */
  readonly limitStore?: LimitStore;
  /** One slot store for every pool (instance ids are unique across the fleet). Default: a LocalSlots per pool. */
  readonly slots?: SlotStore;
  /** See PoolOptions.pins: one store for every pool. */
  readonly pins?: PinStore;
}

export class Fleet extends EventEmitter<FleetEvents> {
  /** Every pool's Router in config order (the first is the default pool). */
  readonly routers: readonly Router[];
  private readonly pools: readonly Pool[];
  private readonly byName = new Map<string, Pool>();

  constructor(opts: FleetOptions) {
    super();
    const onEvent = (event: InstanceEvent): void => {
      this.emit('instance', event);
    };
    this.pools = opts.pools.map((config) => {
      if (this.byName.has(config.name)) throw new RoutingError('duplicate_pool', `duplicate pool name ${config.name}`);
      const pool = new Pool({ config, createBackend: opts.createBackend, metrics: opts.metrics, now: opts.now, onEvent, vnodes: opts.vnodes, overloaded: opts.overloaded, limitStore: opts.limitStore, slots: opts.slots, pins: opts.pins });
      this.byName.set(config.name, pool);
      return pool;
    });
    this.routers = this.pools;
    if (this.pools.length === 0) throw new RoutingError('no_instances', 'no pools configured');
  }

  /** The named pool's router. Throws RoutingError unknown_pool. */
  router(poolName: string): Router {
    const pool = this.byName.get(poolName);
    if (!pool) throw new RoutingError('unknown_pool', `no pool named ${poolName}`);
    return pool;
  }

  /**
   * An instance by id. The same server listed in two pools has the same derived id; this
   * returns the first pool's (drain/undrain act on all of them).
   */
  instance(id: string): Instance | undefined {
    for (const pool of this.pools) {
      const inst = pool.instance(id);
      if (inst) return inst;
    }
    return undefined;
  }

  /** Drains the instance with this id in every pool listing it. False when none does. */
  drain(id: string): boolean {
    return this.setDraining(id, true);
  }

  undrain(id: string): boolean {
    return this.setDraining(id, false);
  }

  private setDraining(id: string, draining: boolean): boolean {
    let found = false;
    for (const pool of this.pools) if (pool.setDraining(id, draining)) found = true;
    return found;
  }

  startHealthChecks(): void {
    for (const pool of this.pools) pool.startHealthChecks();
  }

  /** Stops checks and timers and closes every backend. */
  async stop(): Promise<void> {
    for (const pool of this.pools) pool.stop();
    const backends: Backend[] = [];
    for (const pool of this.pools) for (const inst of pool.allInstances()) backends.push(inst.backend);
    await Promise.allSettled(backends.map((b) => b.close()));
  }

  /**
   * The named pool itself, for the operations that are not routing: run-time membership
   * (discovery), a peer's ejection (cluster/instance-state.ts), closing backends. Undefined when unknown.
   */
  pool(poolName: string): Pool | undefined {
    return this.byName.get(poolName);
  }

  /** Every instance of every pool, for GET /admin/instances. */
  snapshot(): InstanceSnapshot[] {
    return this.pools.flatMap((pool) => pool.snapshot());
  }

  /** Some instance takes new sessions (healthy and not draining): /ready. */
  anyUp(): boolean {
    return this.pools.some((pool) => pool.instances.some((inst) => inst.available));
  }
}
