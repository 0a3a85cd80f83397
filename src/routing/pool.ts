/**
 * One pool of instances and its Router: pins by consistent hashing with bounded loads,
 * stream slots with FIFO queueing, active and passive health, drain. DESIGN.md §3, docs/routing.md.
 */
import type { Backend } from '../backends/backend.ts';
import { instanceIdFromUrl } from '../config.ts';
import type { InstanceConfig, PoolConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { AdaptiveLimit } from './adaptive-limit.ts';
import type { LimitStore } from './limit-store.ts';
import { PassiveEjection } from './breaker.ts';
import { RoutingError } from './errors.ts';
import type { InstanceEvent, InstanceEventType } from './events.ts';
import { ActiveHealthCheck } from './health.ts';
import { HashRing } from './ring.ts';
import { LocalSlots } from './local-slots.ts';
import type { PinStore } from './pins.ts';
import type { Instance, Router, Slot } from './router.ts';
import type { MaybePromise, SlotClaim, SlotLease, SlotStore } from './slots.ts';

export type InstanceSpec = InstanceConfig & { id: string };

export interface PoolOptions {
  /** The pool's config (instances, health, load_epsilon, queue_ms). */
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

/** What GET /admin/instances shows of one instance. */
export interface InstanceSnapshot {
  pool: string;
  id: string;
  url: string;
  /** up | down (active checks) | ejected (passive). */
  health: 'up' | 'down' | 'ejected';
  healthy: boolean;
  draining: boolean;
  weight: number;
  sessions: number;
  streams: number;
  /** Streams it takes now: the learned limit when adaptive, else max_concurrency. */
  capacity: number;
  /** max_concurrency as configured. */
  capacity_configured: number;
  /** Segments waiting for a stream slot here. */
  queued: number;
  /** While ejected: ms until the ejection may end. */
  ejected_for_ms?: number;
  /**
   * Removed from the pool (e.g. vanished from discovery) but still serving the sessions pinned
   * to it; it leaves the list once they are gone. Absent for members.
   */
  retiring?: true;
}

interface Waiter {
  resolve: (slot: Slot | null) => void;
  reject: (err: unknown) => void;
  timer: ReturnType<typeof setTimeout> | null;
  signal: AbortSignal;
  onAbort: () => void;
  done: boolean;
}

type GaugeChild = { set(value: number): void };
const NO_GAUGE: GaugeChild = { set() {} };

/** An instance with its live state. Mutated only by its Pool. */
export class PoolInstance implements Instance {
  readonly id: string;
  readonly url: string;
  readonly weight: number;
  readonly maxConcurrency: number;
  /** Active checks say up. Optimistic: up at start (docs/routing.md). */
  activeUp = true;
  draining = false;
  /**
   * Out of the ring (removeInstance): no new sessions, not a failover candidate; pinned
   * sessions and their streams carry on until they end.
   */
  retiring = false;
  /** Gone for good: its last session and stream ended after retiring. */
  removed = false;
  /** Distinct sessions pinned here (a session with two live connections counts once). */
  sessions = 0;
  /** Live connections per pinned session key. */
  readonly pinned = new Map<string, number>();
  streams = 0;
  /** Consecutive active check passes / fails. */
  passes = 0;
  fails = 0;
  readonly ejection: PassiveEjection;
  checker: ActiveHealthCheck | null = null;
  ejectTimer: ReturnType<typeof setTimeout> | null = null;
  /** performance.now() until which the instance takes no new streams (it said it is full). */
  coolingUntil = 0;
  coolTimer: ReturnType<typeof setTimeout> | null = null;
  readonly waiters: Waiter[] = [];
  /** This instance as a one-claim list for the slot store, reused (no allocation per acquire). */
  readonly claim: { readonly instanceId: string; limit: number };
  readonly claims: readonly SlotClaim[];
  /** The learned stream limit (pools[].capacity.mode adaptive), else null. */
  readonly limiter: AdaptiveLimit | null;
  gauges: { up: GaugeChild; draining: GaugeChild; sessions: GaugeChild; streams: GaugeChild; capacity: GaugeChild };

  constructor(
    readonly pool: string,
    readonly index: number,
    spec: InstanceSpec,
    readonly backend: Backend,
    config: PoolConfig,
    metrics: Metrics | undefined,
    onLimit?: (inst: PoolInstance, limit: number, reason: string, detail: { baselineMs: number; medianMs: number }) => void,
    limitStore?: LimitStore,
  ) {
    this.id = spec.id;
    this.claim = { instanceId: spec.id, limit: 0 };
    this.claims = [this.claim];
    this.url = spec.url ?? '';
    this.weight = spec.weight;
    this.maxConcurrency = spec.max_concurrency;
    const capacity = config.capacity;
    this.limiter =
      capacity.mode === 'adaptive'
        ? new AdaptiveLimit({
            min: Math.min(capacity.min, spec.max_concurrency),
            max: Math.min(capacity.max ?? spec.max_concurrency, spec.max_concurrency),
            targetFirstAudioMs: capacity.target_first_audio_ms,
            onChange: (limit, reason, detail) => onLimit?.(this, limit, reason, detail),
            store: limitStore,
            storeKey: `${pool}/${spec.id}`,
          })
        : null;
    this.ejection = new PassiveEjection({
      ejectAfter: config.health.eject_after,
      baseMs: config.health.eject_base_ms,
      maxMs: config.health.eject_max_ms,
    });
    if (metrics) {
      const labels = { pool, instance: this.id };
      metrics.registerInstance(pool, this.id, this.maxConcurrency);
      this.gauges = {
        up: metrics.instanceUp.labels(labels),
        draining: metrics.instanceDraining.labels(labels),
        sessions: metrics.instanceSessions.labels(labels),
        streams: metrics.instanceActiveStreams.labels(labels),
        capacity: metrics.instanceCapacity.labels(labels),
      };
      this.gauges.capacity.set(this.limit);
    } else {
      this.gauges = { up: NO_GAUGE, draining: NO_GAUGE, sessions: NO_GAUGE, streams: NO_GAUGE, capacity: NO_GAUGE };
    }
    this.gauges.up.set(1);
  }

  get healthy(): boolean {
    return this.activeUp && !this.ejection.ejected && !this.removed;
  }

  get ejected(): boolean {
    return this.ejection.ejected;
  }

  get limit(): number {
    return this.limiter ? this.limiter.limit : this.maxConcurrency;
  }

  /** Takes traffic for new sessions. */
  get available(): boolean {
    return this.activeUp && !this.ejection.ejected && !this.draining && !this.retiring;
  }
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
  /** Ring members in ring index order. Replaced (never mutated) by addInstance/removeInstance. */
  instances: readonly PoolInstance[];
  readonly config: PoolConfig;
  /** Members and retiring instances. */
  private readonly byId = new Map<string, PoolInstance>();
  private ring: HashRing;
  private readonly createBackend: PoolOptions['createBackend'];
  private readonly limitStore: LimitStore | undefined;
  private readonly metrics: Metrics | undefined;
  private readonly slots: SlotStore;
  private readonly vnodes: number | undefined;
  private readonly overloaded: () => boolean;
  private readonly now: () => number;
  private readonly onEvent: (event: InstanceEvent) => void;
  private readonly epsilon: number;
  /** Latest pin by session key: a reconnect while the first connection lives reuses it. */
  private readonly live = new Map<string, PoolInstance>();
  private readonly pins: PinStore | undefined;
  private totalSessions = 0;
  private readonly capacityListeners: (() => void)[] = [];
  private readonly onLimit = (inst: PoolInstance, limit: number, reason: string, detail: { baselineMs: number; medianMs: number }): void => this.limitChanged(inst, limit, reason, detail);
  /** Sum of weights of available instances; recomputed on every health or drain change. */
  private availableWeight = 0;
  private checking = false;
  private stopped = false;

  // Walk state, set just before a ring walk (walks are synchronous): the predicates below are
  // created once so a lookup allocates nothing but its result.
  private capPerWeight = 0;
  private walkExclude: ReadonlySet<string> | undefined;
  private walkOut: Instance[] = [];
  private walkLimit = 0;
  private readonly acceptForPin = (i: number): boolean => {
    const inst = this.instances[i];
    // 1e-9: (1+ε)·m·w/W computed in floating point must not round a whole cap up by one.
    return inst.available && inst.sessions < Math.ceil(this.capPerWeight * inst.weight - 1e-9);
  };
  private readonly acceptCandidate = (i: number): boolean => {
    const inst = this.instances[i];
    if (inst.available && !(this.walkExclude?.has(inst.id) ?? false)) this.walkOut.push(inst);
    return this.walkOut.length >= this.walkLimit;
  };

  constructor(options: PoolOptions) {
    const config = options.config;
    this.config = config;
    this.pool = config.name;
    this.now = options.now ?? Date.now;
    this.onEvent = options.onEvent ?? (() => {});
    this.epsilon = config.load_epsilon;
    this.createBackend = options.createBackend;
    this.limitStore = options.limitStore;
    this.metrics = options.metrics;
    this.vnodes = options.vnodes;
    this.overloaded = options.overloaded ?? (() => false);
    this.slots = options.slots ?? new LocalSlots();
    // A shared store hears releases on other replicas: room for the wait queue here too.
    if (this.slots.shared) this.slots.onFree(() => this.capacityFreed());
    this.pins = options.pins;
    // A discovered pool may start empty: its members arrive with the first DNS answer.
    if (config.instances.length === 0 && !config.discovery) throw new RoutingError('no_instances', `pool ${config.name} has no instances`);
    this.instances = config.instances.map((inst, i) => {
      const spec: InstanceSpec = { ...inst, id: inst.id ?? (inst.url ? instanceIdFromUrl(inst.url) : `${config.name}-${i + 1}`) };
      if (this.byId.has(spec.id)) throw new RoutingError('duplicate_instance', `pool ${config.name}: duplicate instance id ${spec.id}`);
      const instance = new PoolInstance(config.name, i, spec, options.createBackend(config, spec), config, options.metrics, this.onLimit, this.limitStore);
      this.byId.set(spec.id, instance);
      return instance;
    });
    this.ring = new HashRing(this.instances, { vnodes: options.vnodes });
    this.recomputeWeight();
  }

  instance(id: string): PoolInstance | undefined {
    return this.byId.get(id);
  }

  // ---- pinning -------------------------------------------------------------------------

  pin(sessionKey: string): Instance | null {
    const current = this.live.get(sessionKey);
    if (current?.available) {
      this.addRef(current, sessionKey);
      return current;
    }
    if (this.availableWeight <= 0) return null;
    // A remembered pin wins over the loads: a reconnect (here or on another replica) keeps its
    // instance while that instance is available; only sessions whose instance left move.
    const remembered = this.pins?.recall(this.pool, sessionKey);
    if (remembered !== undefined) {
      const inst = this.byId.get(remembered);
      if (inst?.available) {
        this.addRef(inst, sessionKey);
        this.live.set(sessionKey, inst);
        this.pins!.remember(this.pool, sessionKey, inst.id);
        return inst;
      }
    }
    // Bounded loads: instance i takes at most ceil((1+ε)·m·w_i/W) sessions, m counting this one.
    // The caps of available instances sum to more than m, so some instance always has room.
    this.capPerWeight = ((1 + this.epsilon) * (this.totalSessions + 1)) / this.availableWeight;
    const index = this.ring.walk(sessionKey, this.acceptForPin);
    if (index < 0) return null;
    const instance = this.instances[index];
    this.addRef(instance, sessionKey);
    this.live.set(sessionKey, instance);
    this.pins?.remember(this.pool, sessionKey, instance.id);
    return instance;
  }

  /** One connection of the session ended; the session leaves `instance` with its last one. */
  release(sessionKey: string, instance: Instance): void {
    const inst = this.own(instance);
    const refs = inst.pinned.get(sessionKey);
    if (refs === undefined) return; // not pinned there: nothing to undo
    if (refs > 1) {
      inst.pinned.set(sessionKey, refs - 1);
      return;
    }
    inst.pinned.delete(sessionKey);
    this.countSession(inst, -1);
    if (this.live.get(sessionKey) === inst) {
      this.live.delete(sessionKey);
      // The session's last activity: its pin is remembered pin_ttl_s from now.
      this.pins?.remember(this.pool, sessionKey, inst.id);
    }
    if (inst.retiring) this.finishRetiring(inst);
  }

  repin(sessionKey: string, from: Instance | null, to: Instance): void {
    if (from) this.release(sessionKey, from);
    const inst = this.own(to);
    this.addRef(inst, sessionKey);
    this.live.set(sessionKey, inst);
    this.pins?.remember(this.pool, sessionKey, inst.id);
  }

  private addRef(inst: PoolInstance, sessionKey: string): void {
    const refs = inst.pinned.get(sessionKey) ?? 0;
    inst.pinned.set(sessionKey, refs + 1);
    if (refs === 0) this.countSession(inst, 1);
  }

  /**
   * The session's failover order (available instances in its hash order, minus `exclude`).
   * `limit` (an addition to the Router contract) stops the ring walk early: failover rarely
   * needs more than two or three, and the full order at N = 1000 walks thousands of points.
   */
  candidates(sessionKey: string, exclude?: ReadonlySet<string>, limit = Number.POSITIVE_INFINITY): Instance[] {
    const out: Instance[] = [];
    if (limit <= 0) return out;
    this.walkOut = out;
    this.walkExclude = exclude;
    this.walkLimit = limit;
    this.ring.walk(sessionKey, this.acceptCandidate);
    this.walkOut = [];
    this.walkExclude = undefined;
    return out;
  }

  private countSession(inst: PoolInstance, delta: 1 | -1): void {
    inst.sessions += delta;
    this.totalSessions += delta;
    inst.gauges.sessions.set(inst.sessions);
  }

  // ---- stream slots --------------------------------------------------------------------

  get sharedSlots(): boolean {
    return this.slots.shared;
  }

  tryAcquire(instance: Instance): Slot | null {
    const inst = this.own(instance);
    if (!this.canStream(inst) || inst.waiters.length > 0) return null;
    if (this.slots.shared) return null; // a shared store answers through acquireFirst only
    inst.claim.limit = inst.limit;
    const lease = this.slots.acquire(inst.claims) as SlotLease | null;
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
   * lives in Redis: its acquire is the check).
   */
  private canStream(inst: PoolInstance): boolean {
    return inst.healthy && !this.stopped && (this.slots.shared || inst.streams < inst.limit) && (inst.coolingUntil === 0 || inst.coolingUntil <= performance.now());
  }

  hasFreeSlot(): boolean {
    for (const inst of this.instances) if (this.canStream(inst)) return true;
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
    const now = performance.now();
    inst.limiter?.overflow(now);
    const until = now + ms;
    if (until <= inst.coolingUntil) return;
    inst.coolingUntil = until;
    if (inst.coolTimer) clearTimeout(inst.coolTimer);
    inst.coolTimer = setTimeout(() => {
      inst.coolTimer = null;
      inst.coolingUntil = 0;
      this.capacityFreed();
    }, ms);
    inst.coolTimer.unref?.();
  }

  acquire(instance: Instance, queueMs: number, signal: AbortSignal): Promise<Slot | null> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const inst = this.own(instance);
    const now = this.tryAcquire(inst);
    if (now || !inst.healthy || this.stopped || queueMs <= 0) return Promise.resolve(now);
    return new Promise<Slot | null>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: null,
        signal,
        done: false,
        onAbort: () => {
          if (settle(waiter)) reject(signal.reason);
        },
      };
      waiter.timer = setTimeout(() => {
        if (settle(waiter)) resolve(null);
      }, queueMs);
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      inst.waiters.push(waiter);
    });
  }

  private takeStream(inst: PoolInstance, lease: SlotLease): Slot {
    inst.streams++;
    inst.gauges.streams.set(inst.streams);
    inst.limiter?.inFlight(lease.inFlightAtStart);
    return new StreamSlot(inst, this, lease);
  }

  reportFirstAudio(instance: Instance, ms: number, inFlightAtStart: number): void {
    const inst = this.own(instance);
    inst.limiter?.firstAudio(ms, inFlightAtStart, performance.now());
  }

  /** An adaptive limit moved: gauges, the event log, and room for the wait queue if it grew. */
  private limitChanged(inst: PoolInstance, limit: number, reason: string, detail: { baselineMs: number; medianMs: number }): void {
    inst.gauges.capacity.set(limit);
    this.onEvent({ type: 'capacity', pool: this.pool, instance: inst.id, url: inst.url, healthy: inst.healthy, limit, reason: `${reason} (first audio median ${Math.round(detail.medianMs)} ms, baseline ${Math.round(detail.baselineMs)} ms)` });
    if (inst.streams < limit) this.capacityFreed();
  }

  /** A slot was released: hand it to the oldest live waiter, else free it. */
  freeStream(inst: PoolInstance, lease: SlotLease): void {
    inst.streams--;
    this.slots.release(lease);
    while (inst.waiters.length > 0 && inst.healthy && !this.stopped && !this.slots.shared) {
      const waiter = inst.waiters.shift()!;
      if (!settle(waiter)) continue;
      inst.claim.limit = Math.max(inst.limit, inst.streams + 1);
      waiter.resolve(this.takeStream(inst, this.slots.acquire(inst.claims) as SlotLease));
      return;
    }
    inst.gauges.streams.set(inst.streams);
    if (inst.retiring) this.finishRetiring(inst);
    else this.capacityFreed();
  }

  /** Waiters on an instance that stopped taking traffic move on at once (null = try the next). */
  private flushWaiters(inst: PoolInstance): void {
    const waiters = inst.waiters.splice(0);
    for (const waiter of waiters) if (settle(waiter)) waiter.resolve(null);
  }

  // ---- health --------------------------------------------------------------------------

  reportFailure(instance: Instance, kind: string): void {
    // Our own cancellation and a refusal of our input say nothing about the instance; nor
    // does a timeout while our own event loop lags (the audio may be unread in our socket).
    if (kind === 'aborted' || kind === 'http_4xx' || this.stopped) return;
    if (kind === 'timeout' && this.overloaded()) return;
    const inst = this.own(instance);
    const now = this.now();
    const ms = inst.ejection.failure(now);
    if (ms === 0) return;
    this.afterHealthChange(inst, 'ejected', { reason: kind, durationMs: ms });
    inst.ejectTimer = setTimeout(() => this.ejectionOver(inst), ms);
    inst.ejectTimer.unref?.();
  }

  /**
   * Another replica ejected instance `id` for `ms` (cluster/instance-state.ts): ejected here for
   * that long too, then the same half-open probe as a local ejection. False when unknown or
   * already ejected.
   */
  adoptEjection(id: string, ms: number, reason: string): boolean {
    const inst = this.byId.get(id);
    if (!inst || this.stopped || inst.removed || !inst.ejection.adopt(this.now(), ms)) return false;
    this.afterHealthChange(inst, 'ejected', { reason, durationMs: ms });
    inst.ejectTimer = setTimeout(() => this.ejectionOver(inst), ms);
    inst.ejectTimer.unref?.();
    return true;
  }

  reportSuccess(instance: Instance): void {
    this.own(instance).ejection.success();
  }

  /**
   * Ejection time is over: the breaker goes half-open. One short real synthesis decides:
   * first audio closes it (the instance takes traffic again), anything else opens it again
   * for a doubled time. A health endpoint can answer while synthesis fails; this cannot.
   */
  private ejectionOver(inst: PoolInstance): void {
    inst.ejectTimer = null;
    if (this.stopped || inst.removed || !inst.ejection.ejected) return;
    void probeSynthesis(inst.backend, this.config.voices[0]!, this.config.timeouts.first_audio_ms).then((ok) => {
      if (this.stopped || inst.removed || !inst.ejection.ejected) return;
      if (ok) return this.restore(inst);
      const ms = inst.ejection.reopen(this.now());
      this.afterHealthChange(inst, 'ejected', { reason: 'half-open probe failed', durationMs: ms });
      inst.ejectTimer = setTimeout(() => this.ejectionOver(inst), ms);
      inst.ejectTimer.unref?.();
    });
  }

  private restore(inst: PoolInstance): void {
    inst.ejection.restore(this.now());
    this.afterHealthChange(inst, 'restored');
  }

  /** One active check result: rise/fall counting, and the end of an expired ejection. */
  private checkResult(inst: PoolInstance, ok: boolean, error: unknown): void {
    const { rise, fall } = this.config.health;
    if (ok) {
      inst.fails = 0;
      inst.passes++;
      if (!inst.activeUp && inst.passes >= rise) {
        inst.activeUp = true;
        this.afterHealthChange(inst, 'up');
      }
    } else {
      inst.passes = 0;
      inst.fails++;
      if (inst.activeUp && inst.fails >= fall) {
        inst.activeUp = false;
        this.afterHealthChange(inst, 'down', { reason: error instanceof Error ? error.message : String(error) });
      }
    }
  }

  private afterHealthChange(inst: PoolInstance, type: InstanceEventType, extra: { reason?: string; durationMs?: number } = {}): void {
    this.recomputeWeight();
    inst.gauges.up.set(inst.healthy ? 1 : 0);
    inst.gauges.draining.set(inst.draining ? 1 : 0);
    if (!inst.healthy) this.flushWaiters(inst);
    this.onEvent({ type, pool: this.pool, instance: inst.id, url: inst.url, healthy: inst.healthy, ...extra });
    if (inst.healthy) this.capacityFreed();
  }

  private recomputeWeight(): void {
    let w = 0;
    for (const inst of this.instances) if (inst.available) w += inst.weight;
    this.availableWeight = w;
  }

  /** Starts active checks on every instance (probe now, then every health.interval_ms). */
  startHealthChecks(): void {
    if (this.checking || this.stopped) return;
    this.checking = true;
    for (const inst of this.instances) this.startChecker(inst);
  }

  private startChecker(inst: PoolInstance): void {
    const { interval_ms, timeout_ms } = this.config.health;
    inst.checker = new ActiveHealthCheck({
      intervalMs: interval_ms,
      timeoutMs: timeout_ms,
      check: (signal) => inst.backend.check(signal),
      onResult: (ok, error) => this.checkResult(inst, ok, error),
    });
    inst.checker.start();
  }

  // ---- operations ----------------------------------------------------------------------

  /** Draining: no new sessions; pinned sessions and their streams carry on. */
  setDraining(id: string, draining: boolean): boolean {
    const inst = this.byId.get(id);
    if (!inst) return false;
    if (inst.draining !== draining) {
      inst.draining = draining;
      this.afterHealthChange(inst, draining ? 'draining' : 'undrained');
    }
    return true;
  }

  // ---- membership (runtime: discovery.ts, operators) -----------------------------------

  /** Member ids in ring order (retiring instances excluded). */
  memberIds(): string[] {
    return this.instances.map((inst) => inst.id);
  }

  /**
   * Adds an instance to the ring at run time. Only keys whose hash order now meets it first
   * move (about 1/(N+1) of them, for their next pin); nobody else's pin changes. It starts up
   * (optimistic, as at boot) and gets active checks if they are running. Re-adding an id that
   * is still retiring brings that same instance back, with its sessions and state.
   * Throws RoutingError duplicate_instance when the id is already a member.
   */
  addInstance(config: InstanceConfig): PoolInstance {
    const id = config.id ?? (config.url ? instanceIdFromUrl(config.url) : '');
    if (!id) throw new RoutingError('no_instances', `pool ${this.pool}: an added instance needs an id or a url`);
    const existing = this.byId.get(id);
    if (existing && !existing.retiring) throw new RoutingError('duplicate_instance', `pool ${this.pool}: duplicate instance id ${id}`);
    let inst: PoolInstance;
    if (existing) {
      inst = existing;
      inst.retiring = false;
    } else {
      const spec: InstanceSpec = { ...config, id };
      inst = new PoolInstance(this.pool, this.instances.length, spec, this.createBackend(this.config, spec), this.config, this.metrics, this.onLimit, this.limitStore);
      this.byId.set(id, inst);
      if (this.checking && !this.stopped) this.startChecker(inst);
    }
    this.setMembers([...this.instances, inst]);
    this.afterHealthChange(inst, 'joined');
    return inst;
  }

  /**
   * Takes an instance out of the ring: no new sessions, no failover traffic. Sessions pinned
   * to it carry on as on a drained instance (their segments still get slots there, and its
   * active checks keep running, so if it is really gone they fail over by the usual health
   * and timeout paths). Once its last session and stream end it is dropped for good: checks
   * stop, its backend closes and its gauges leave /metrics. False when no member has the id.
   */
  removeInstance(id: string): boolean {
    const inst = this.byId.get(id);
    if (!inst || inst.retiring) return false;
    inst.retiring = true;
    this.setMembers(this.instances.filter((member) => member !== inst));
    this.afterHealthChange(inst, 'left');
    inst.gauges.draining.set(1); // dashboards show it as draining while its calls finish
    this.finishRetiring(inst);
    return true;
  }

  /** Rebuilds the ring over `members`; the ring knows ids and weights only. */
  private setMembers(members: PoolInstance[]): void {
    this.instances = members;
    this.ring = new HashRing(members, { vnodes: this.vnodes });
    this.recomputeWeight();
  }

  /** Drops a retiring instance once nothing uses it. */
  private finishRetiring(inst: PoolInstance): void {
    if (!inst.retiring || inst.removed || inst.sessions > 0 || inst.streams > 0 || inst.waiters.length > 0) return;
    inst.removed = true;
    inst.checker?.stop();
    inst.checker = null;
    if (inst.ejectTimer) clearTimeout(inst.ejectTimer);
    inst.ejectTimer = null;
    if (this.byId.get(inst.id) === inst) this.byId.delete(inst.id);
    for (const [key, pinned] of this.live) if (pinned === inst) this.live.delete(key);
    if (this.metrics) {
      const labels = { pool: this.pool, instance: inst.id };
      for (const gauge of [this.metrics.instanceUp, this.metrics.instanceDraining, this.metrics.instanceCapacity, this.metrics.instanceCapacityConfigured, this.metrics.instanceActiveStreams, this.metrics.instanceSessions]) gauge.remove(labels);
    }
    inst.gauges = { up: NO_GAUGE, draining: NO_GAUGE, sessions: NO_GAUGE, streams: NO_GAUGE, capacity: NO_GAUGE };
    this.onEvent({ type: 'removed', pool: this.pool, instance: inst.id, url: inst.url, healthy: false });
    void inst.backend.close().catch(() => undefined);
  }

  /** Members and instances still retiring (e.g. to close every backend). */
  allInstances(): PoolInstance[] {
    return [...this.byId.values()];
  }

  snapshot(): InstanceSnapshot[] {
    const now = this.now();
    // Members first (ring order), then instances still retiring.
    const listed = this.instances.length === this.byId.size ? this.instances : [...this.instances, ...[...this.byId.values()].filter((i) => i.retiring)];
    return listed.map((inst) => {
      const snap: InstanceSnapshot = {
        pool: this.pool,
        id: inst.id,
        url: inst.url,
        health: inst.ejection.ejected ? 'ejected' : inst.activeUp ? 'up' : 'down',
        healthy: inst.healthy,
        draining: inst.draining,
        weight: inst.weight,
        sessions: inst.sessions,
        streams: inst.streams,
        capacity: inst.limit,
        capacity_configured: inst.maxConcurrency,
        queued: inst.waiters.length,
      };
      if (inst.ejection.ejected) snap.ejected_for_ms = Math.max(0, inst.ejection.until - now);
      if (inst.retiring) snap.retiring = true;
      return snap;
    });
  }

  /** Stops checks and timers; waiters get null. Backends are closed by the caller (Fleet). */
  stop(): void {
    this.stopped = true;
    for (const inst of this.byId.values()) {
      inst.checker?.stop();
      if (inst.ejectTimer) clearTimeout(inst.ejectTimer);
      inst.ejectTimer = null;
      if (inst.coolTimer) clearTimeout(inst.coolTimer);
      inst.coolTimer = null;
      this.flushWaiters(inst);
    }
  }

  private own(instance: Instance): PoolInstance {
    const inst = this.byId.get(instance.id);
    // A removed instance's stragglers (a late release or failure report) are harmless no-ops.
    if (instance instanceof PoolInstance && instance.removed && instance.pool === this.pool) return instance;
    if (!inst || inst !== instance) {
      throw new RoutingError('unknown_instance', `instance ${instance.id} does not belong to pool ${this.pool}`);
    }
    return inst;
  }
}

/** Marks a waiter settled (timer cleared, abort listener removed); false if it already was. */
function settle(waiter: Waiter): boolean {
  if (waiter.done) return false;
  waiter.done = true;
  if (waiter.timer) clearTimeout(waiter.timer);
  waiter.signal.removeEventListener('abort', waiter.onAbort);
  return true;
}

/** The half-open probe's text: short, so it costs the GPU almost nothing. */
export const PROBE_TEXT = 'Hello.';

/** True when the backend yields first audio for PROBE_TEXT within `timeoutMs`. */
export async function probeSynthesis(backend: Backend, voice: string, timeoutMs: number): Promise<boolean> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    for await (const _audio of backend.synthesize({ text: PROBE_TEXT, voice }, controller.signal)) return true;
    return false;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
