/**
 * One pool's Router (router.ts; DESIGN.md §3, docs/routing.md). It composes the parts beside it
 * and owns only what ties them together:
 *   - membership.ts: who is in the pool, the hash ring, available weight;
 *   - pin-walk.ts: pins with bounded loads, remembered pins, the failover order;
 *   - instance.ts + instance-health.ts: each instance's counters, rise/fall, ejection and the
 *     half-open probe (transitions come back here as InstanceEvents);
 *   - a SlotStore (slots.ts): counts streams; the pool decides who may stream (health, drain,
 *     cool-down) and wakes the session's wait queue through onCapacity;
 *   - snapshot.ts: what /admin/instances shows.
 */
import type { Backend } from '../backends/backend.ts';
import type { InstanceConfig, PoolConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { RoutingError } from './errors.ts';
import type { InstanceEvent, InstanceEventType } from './events.ts';
import type { HealthTransition } from './instance-health.ts';
import { PoolInstance, type InstanceSpec, type LimitChange } from './instance.ts';
import type { LimitStore } from './limit-store.ts';
import { LocalSlots } from './local-slots.ts';
import { Membership } from './membership.ts';
import { PinWalk } from './pin-walk.ts';
import type { PinStore } from './pins.ts';
import type { Instance, Router, Slot } from './router.ts';
import { snapshotOf, type InstanceSnapshot } from './snapshot.ts';
import type { MaybePromise, SlotClaim, SlotLease, SlotStore } from './slots.ts';

export interface PoolOptions {
  /** The pool's config (instances, health, load_epsilon, capacity, timeouts). */
  readonly config: PoolConfig;
  /** Builds the Backend adapter of one instance. */
  readonly createBackend: (pool: PoolConfig, instance: InstanceSpec) => Backend;
  /** Instance gauges are kept current here. Default: none (tests, tools). */
  readonly metrics?: Metrics;
  /** Clock for ejection bookkeeping. Default Date.now. */
  readonly now?: () => number;
  /** Every instance state change. Default: none. */
  readonly onEvent?: (event: InstanceEvent) => void;
  /** Ring virtual nodes per unit of weight. Default 320 (ring.ts). */
  readonly vnodes?: number;
  /**
   * True while the gateway itself is overloaded (its event loop lags): timeouts are then not
   * held against instances. Default: never overloaded.
   */
  readonly overloaded?: () => boolean;
  /** Adaptive limits shared between replicas (cluster.redis_url; limit-store.ts). Default: none, each process its own. */
  readonly limitStore?: LimitStore;
  /**
   * Who counts stream slots against each instance's limit (src/routing/slots.ts). Default: a
   * LocalSlots of this pool alone. RedisSlots shares them with every replica; the workers'
   * IPC store with the primary. The pool keeps health, drain and cool-downs; the store counts.
   */
  readonly slots?: SlotStore;
  /**
   * Remembered pins (cluster.pin_ttl_s; pins.ts): a session whose remembered instance is
   * available goes back there whatever the loads are now. Default: none (pins live only while
   * the session has a connection).
   */
  readonly pins?: PinStore;
}

class StreamSlot implements Slot {
  private released = false;
  constructor(
    readonly instance: PoolInstance,
    private readonly owner: Pool,
    private readonly lease: SlotLease,
  ) {}

  get inFlightAtStart(): number {
    return this.lease.inFlightAtStart;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.owner.freeStream(this.instance, this.lease);
  }
}

export class Pool implements Router {
  readonly pool: string;
  private readonly config: PoolConfig;
  private readonly membership: Membership;
  private readonly walk: PinWalk;
  private readonly slots: SlotStore;
  private readonly now: () => number;
  private readonly onEvent: (event: InstanceEvent) => void;
  private readonly capacityListeners: (() => void)[] = [];
  private readonly onCapacityFreed = (): void => this.capacityFreed();
  private checking = false;
  private stopped = false;

  constructor(options: PoolOptions) {
    const config = options.config;
    this.config = config;
    this.pool = config.name;
    this.now = options.now ?? Date.now;
    this.onEvent = options.onEvent ?? (() => {});
    this.slots = options.slots ?? new LocalSlots();
    // A shared store hears releases on other replicas or workers: room for the wait queue here too.
    if (this.slots.shared) this.slots.onFree(this.onCapacityFreed);
    // A discovered pool may start empty: its members arrive with the first DNS answer.
    if (config.instances.length === 0 && !config.discovery) throw new RoutingError('no_instances', `pool ${config.name} has no instances`);
    const onHealth = (inst: PoolInstance, transition: HealthTransition): void => this.healthChanged(inst, transition);
    const onLimit = (inst: PoolInstance, change: LimitChange): void => this.limitChanged(inst, change);
    const create = (spec: InstanceSpec): PoolInstance =>
      new PoolInstance({ pool: config, spec, backend: options.createBackend(config, spec), metrics: options.metrics, now: options.now, overloaded: options.overloaded, limitStore: options.limitStore, onHealth, onLimit });
    this.membership = new Membership({ pool: config.name, vnodes: options.vnodes, create }, config.instances);
    this.walk = new PinWalk({ pool: config.name, membership: this.membership, epsilon: config.load_epsilon, pins: options.pins });
  }

  /** Ring members in ring index order (retiring instances excluded). */
  get instances(): readonly PoolInstance[] {
    return this.membership.members;
  }

  /** A member or a retiring instance by id. */
  instance(id: string): PoolInstance | undefined {
    return this.membership.get(id);
  }

  // ---- pinning (pin-walk.ts) -----------------------------------------------------------

  pin(sessionKey: string): Instance | null {
    return this.walk.pin(sessionKey);
  }

  /** One connection of the session ended; the session leaves `instance` with its last one. */
  release(sessionKey: string, instance: Instance): void {
    const inst = this.own(instance);
    if (this.walk.release(sessionKey, inst) && inst.retiring) this.finishRetiring(inst);
  }

  repin(sessionKey: string, from: Instance | null, to: Instance): void {
    if (from) this.release(sessionKey, from);
    this.walk.moveTo(sessionKey, this.own(to));
  }

  candidates(sessionKey: string, exclude?: ReadonlySet<string>, limit?: number): Instance[] {
    return this.walk.candidates(sessionKey, exclude, limit);
  }

  // ---- stream slots --------------------------------------------------------------------

  get sharedSlots(): boolean {
    return this.slots.shared;
  }

  tryAcquire(instance: Instance): Slot | null {
    const inst = this.own(instance);
    if (!this.canStream(inst)) return null;
    if (this.slots.shared) return null; // a shared store answers through acquireFirst only
    const lease = this.slots.acquire(inst.claimWith(inst.limit)) as SlotLease | null;
    return lease ? this.takeStream(inst, lease) : null;
  }

  acquireFirst(instances: readonly Instance[]): MaybePromise<Slot | null> {
    if (!this.slots.shared) {
      for (const instance of instances) {
        const slot = this.tryAcquire(instance);
        if (slot) return slot;
      }
      return null;
    }
    const eligible: PoolInstance[] = [];
    const claims: SlotClaim[] = [];
    for (const instance of instances) {
      const inst = this.own(instance);
      if (!this.canStream(inst)) continue;
      eligible.push(inst);
      claims.push({ instanceId: inst.id, limit: inst.limit });
    }
    if (claims.length === 0) return null;
    return Promise.resolve(this.slots.acquire(claims)).then((lease) => {
      if (!lease) return null;
      const inst = eligible.find((i) => i.id === lease.instanceId)!;
      return this.takeStream(inst, lease);
    });
  }

  /**
   * Health, cool-down and, for a local store, this process's count (a shared store's count
   * lives in Redis or the workers' primary: its acquire is the check).
   */
  private canStream(inst: PoolInstance): boolean {
    return !this.stopped && (this.slots.shared || inst.streams < inst.limit) && inst.canStream();
  }

  hasFreeSlot(): boolean {
    for (const inst of this.membership.members) if (this.canStream(inst)) return true;
    return false;
  }

  onCapacity(listener: () => void): void {
    this.capacityListeners.push(listener);
  }

  private capacityFreed(): void {
    if (this.stopped) return;
    for (const listener of this.capacityListeners) listener();
  }

  coolDown(instance: Instance, ms: number): void {
    const inst = this.own(instance);
    if (ms <= 0 || this.stopped) return;
    inst.coolDown(ms, this.onCapacityFreed);
  }

  private takeStream(inst: PoolInstance, lease: SlotLease): Slot {
    inst.streamStarted(lease.inFlightAtStart);
    return new StreamSlot(inst, this, lease);
  }

  reportFirstAudio(instance: Instance, ms: number, inFlightAtStart: number): void {
    this.own(instance).limiter?.firstAudio(ms, inFlightAtStart, performance.now());
  }

  /** An adaptive limit moved: the event log, and room for the wait queue if it grew. */
  private limitChanged(inst: PoolInstance, change: LimitChange): void {
    const { limit, reason, medianMs, baselineMs } = change;
    this.onEvent({ type: 'capacity', pool: this.pool, instance: inst.id, url: inst.url, healthy: inst.healthy, limit, reason: `${reason} (first audio median ${Math.round(medianMs)} ms, baseline ${Math.round(baselineMs)} ms)` });
    if (inst.streams < limit) this.capacityFreed();
  }

  /** A slot was released (StreamSlot.release): the count, then room for the wait queue. */
  freeStream(inst: PoolInstance, lease: SlotLease): void {
    inst.streamEnded();
    this.slots.release(lease);
    if (inst.retiring) this.finishRetiring(inst);
    else this.capacityFreed();
  }

  // ---- health (instance-health.ts) -----------------------------------------------------

  reportFailure(instance: Instance, kind: string): void {
    if (this.stopped) return;
    this.own(instance).health.failure(kind);
  }

  reportSuccess(instance: Instance): void {
    this.own(instance).health.success();
  }

  /**
   * Another replica ejected instance `id` for `ms` (cluster/instance-state.ts): ejected here for
   * that long too, then the same half-open probe as a local ejection. False when unknown or
   * already ejected.
   */
  adoptEjection(id: string, ms: number, reason: string): boolean {
    const inst = this.membership.get(id);
    if (!inst || this.stopped || inst.removed) return false;
    return inst.health.adoptEjection(ms, reason);
  }

  /** Starts active checks on every instance (probe now, then every health.interval_ms). */
  startHealthChecks(): void {
    if (this.checking || this.stopped) return;
    this.checking = true;
    for (const inst of this.membership.members) inst.health.startChecks();
  }

  private healthChanged(inst: PoolInstance, transition: HealthTransition): void {
    switch (transition.type) {
      case 'down':
        return this.stateChanged(inst, 'down', transition.reason);
      case 'ejected':
        return this.stateChanged(inst, 'ejected', transition.reason, transition.durationMs);
      default:
        return this.stateChanged(inst, transition.type);
    }
  }

  /** After any health, drain or membership change: weight, gauges, the event, capacity. */
  private stateChanged(inst: PoolInstance, type: InstanceEventType, reason?: string, durationMs?: number): void {
    this.membership.recomputeWeight();
    inst.syncStateGauges();
    const event: { -readonly [K in keyof InstanceEvent]: InstanceEvent[K] } = { type, pool: this.pool, instance: inst.id, url: inst.url, healthy: inst.healthy };
    if (reason !== undefined) event.reason = reason;
    if (durationMs !== undefined) event.durationMs = durationMs;
    this.onEvent(event);
    if (inst.healthy) this.capacityFreed();
  }

  // ---- operations ----------------------------------------------------------------------

  /** Draining: no new sessions; pinned sessions and their streams carry on. */
  setDraining(id: string, draining: boolean): boolean {
    const inst = this.membership.get(id);
    if (!inst) return false;
    if (inst.setDraining(draining)) this.stateChanged(inst, draining ? 'draining' : 'undrained');
    return true;
  }

  // ---- membership (membership.ts; at run time: discovery.ts, operators) ----------------

  /** Member ids in ring order (retiring instances excluded). */
  memberIds(): string[] {
    return this.membership.members.map((inst) => inst.id);
  }

  /**
   * Adds an instance to the ring at run time. Only keys whose hash order now meets it first
   * move (about 1/(N+1) of them, for their next pin); nobody else's pin changes. It starts up
   * (optimistic, as at boot) and gets active checks if they are running. Re-adding an id that
   * is still retiring brings that same instance back, with its sessions and state.
   * Throws RoutingError duplicate_instance when the id is already a member.
   */
  addInstance(config: InstanceConfig): PoolInstance {
    const { instance, rejoined } = this.membership.add(config);
    if (!rejoined && this.checking && !this.stopped) instance.health.startChecks();
    this.stateChanged(instance, 'joined');
    return instance;
  }

  /**
   * Takes an instance out of the ring: no new sessions, no failover traffic. Sessions pinned
   * to it carry on as on a drained instance (their segments still get slots there, and its
   * active checks keep running, so if it is really gone they fail over by the usual health
   * and timeout paths). Once its last session and stream end it is dropped for good: checks
   * stop, its backend closes and its gauges leave /metrics. False when no member has the id.
   */
  removeInstance(id: string): boolean {
    const inst = this.membership.remove(id);
    if (!inst) return false;
    this.stateChanged(inst, 'left'); // dashboards show it as draining while its calls finish
    this.finishRetiring(inst);
    return true;
  }

  /** Drops a retiring instance once nothing uses it. */
  private finishRetiring(inst: PoolInstance): void {
    if (!inst.retiring || inst.removed || inst.sessions > 0 || inst.streams > 0) return;
    inst.markRemoved();
    this.membership.forget(inst);
    this.walk.forget(inst);
    this.onEvent({ type: 'removed', pool: this.pool, instance: inst.id, url: inst.url, healthy: false });
    void inst.backend.close().catch(() => undefined);
  }

  /** Members and instances still retiring (e.g. to close every backend). */
  allInstances(): PoolInstance[] {
    return [...this.membership.all()];
  }

  /** Members first (ring order), then instances still retiring. */
  snapshot(): InstanceSnapshot[] {
    const now = this.now();
    return this.membership.listed().map((inst) => snapshotOf(inst, now));
  }

  /** Stops checks and timers. Backends are closed by the caller (Fleet). */
  stop(): void {
    this.stopped = true;
    for (const inst of this.membership.all()) inst.stop();
  }

  private own(instance: Instance): PoolInstance {
    const inst = this.membership.get(instance.id);
    // A removed instance's stragglers (a late release or failure report) are harmless no-ops.
    if (instance instanceof PoolInstance && instance.removed && instance.pool === this.pool) return instance;
    if (!inst || inst !== instance) {
      throw new RoutingError('unknown_instance', `instance ${instance.id} does not belong to pool ${this.pool}`);
    }
    return inst;
  }
}
