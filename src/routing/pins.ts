/**
 * Remembered pins (issue #19 item 2, docs/scaling.md): a session's instance is remembered for
 * `cluster.pin_ttl_s` after its last activity, so a reconnect with the same session key — on
 * this process, another worker or another replica — lands on the same instance while that
 * instance is available (healthy, not draining), whatever the loads are now. Only sessions
 * whose instance left move.
 *
 * One interface, three implementations:
 *   - LocalPinStore (this file): in the process; bounded by TTL and a cap. The default.
 *   - RedisPinStore (src/cluster/redis-pins.ts): with cluster.redis_url, shared by replicas.
 *   - IpcPinStore (src/cluster/ipc-pins.ts): server.workers without Redis; the primary holds
 *     the one LocalPinStore (PinHost), each worker keeps a view of it over IPC.
 *
 * `recall` is synchronous on purpose: Router.pin is synchronous and runs on every session
 * start. Shared stores keep a local view that every `remember` anywhere in the cluster is
 * broadcast into (Redis pub/sub, or IPC from the primary), and reload it when their transport
 * comes back; so recall is a Map lookup everywhere and the shared truth costs one write per
 * pin, never a round trip on the call's path.
 */

export interface PinStore {
  /**
   * The instance id remembered for `key` in `pool`, or undefined when none is remembered (never
   * pinned, or its TTL ran out). Synchronous and allocation-free: answers from this process's
   * view, which holds every `remember` made in the cluster whose broadcast has arrived. The
   * caller checks that the instance is still available; a remembered id is a preference,
   * never an obligation.
   */
  recall(pool: string, key: string): string | undefined;
  /**
   * Remembers (or refreshes) `key` → `instanceId` in `pool` for the store's TTL from now. Called
   * when a session is pinned, re-pinned (failover), and when its last connection ends (so the
   * TTL counts from the last activity). Fire-and-forget: never throws, never blocks the call;
   * a shared store that cannot reach its transport keeps it locally and the call goes on.
   */
  remember(pool: string, key: string, instanceId: string): void;
  /** Stops timers and listeners. Idempotent. */
  close(): Promise<void>;
}

export interface LocalPinStoreOptions {
  /** cluster.pin_ttl_s in ms. */
  readonly ttlMs: number;
  /**
   * Most pins kept; past it the least recently remembered one is forgotten first (its session
   * then moves only if the bounded-load walk sends it elsewhere). Default LOCAL_PIN_CAP.
   */
  readonly cap?: number;
  /** Clock. Default Date.now. */
  readonly now?: () => number;
}

/** Expired pins are swept from the front once per this many remembers (recall checks expiry itself). */
const SWEEP_EVERY = 1024;

/**
 * About 175 bytes a pin with a 34-character session key (a Twilio CallSid; heap measured on
 * Node 20): 200,000 pins hold about 35 MB.
 */
export const LOCAL_PIN_CAP = 200_000;

/** One pin as shared stores carry it: pool, session key, instance id, expiry (ms, Date.now's clock). */
export type PinEntry = [pool: string, key: string, instanceId: string, expires: number];

interface Entry {
  instance: string;
  expires: number;
  /** When it entered the Map at its current position (the sweep's order). */
  placed: number;
}

/**
 * Pins per pool in Maps kept roughly in remember order, so both the cap and expiry evict from
 * the front: memory stays bounded without timers or full scans. A refresh updates the entry in
 * place (no string built, no Map delete on the call's path: session keys are the caller's own
 * strings, so lookups reuse their cached hashes); the sweep moves a refreshed entry it meets at
 * the front to the back, so order is fixed lazily, once per refresh at most.
 */
export class LocalPinStore implements PinStore {
  private readonly pools = new Map<string, Map<string, Entry>>();
  private readonly ttlMs: number;
  private readonly cap: number;
  private readonly now: () => number;
  private sinceSweep = 0;
  private count = 0;

  constructor(options: LocalPinStoreOptions) {
    this.ttlMs = options.ttlMs;
    this.cap = options.cap ?? LOCAL_PIN_CAP;
    this.now = options.now ?? Date.now;
  }

  /** Pins held (all pools), expired ones not yet swept included. */
  get size(): number {
    return this.count;
  }

  recall(pool: string, key: string): string | undefined {
    const entries = this.pools.get(pool);
    const entry = entries?.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= this.now()) {
      entries!.delete(key);
      this.count--;
      return undefined;
    }
    return entry.instance;
  }

  remember(pool: string, key: string, instanceId: string): void {
    this.set(pool, key, instanceId, this.now() + this.ttlMs);
  }

  /**
   * Stores a pin with an absolute expiry (shared stores replay broadcasts and reloads through
   * this, with the expiry they computed).
   */
  set(pool: string, key: string, instanceId: string, expires: number): void {
    const now = this.now();
    if (expires <= now) return;
    let entries = this.pools.get(pool);
    if (entries === undefined) {
      entries = new Map();
      this.pools.set(pool, entries);
    }
    const entry = entries.get(key);
    if (entry !== undefined) {
      entry.instance = instanceId;
      entry.expires = expires;
    } else {
      entries.set(key, { instance: instanceId, expires, placed: now });
      this.count++;
    }
    if (this.count > this.cap || ++this.sinceSweep >= SWEEP_EVERY) this.sweep(now);
  }

  /**
   * Applies a write made elsewhere (another worker's, with the expiry it computed): kept unless
   * this store holds a later write of the same pin (a later expiry; every write's expiry is its
   * time plus the one TTL). So stores that receive the same writes in different orders agree:
   * the last write made wins everywhere.
   */
  merge(pool: string, key: string, instanceId: string, expires: number): void {
    const entry = this.pools.get(pool)?.get(key);
    if (entry !== undefined && entry.expires > expires) return;
    this.set(pool, key, instanceId, expires);
  }

  /**
   * Every unexpired pin as [pool, key, instance id, expiry] (a shared store's snapshot for a
   * view that starts later). Not for the call's path: it walks everything.
   */
  *entries(): IterableIterator<PinEntry> {
    const now = this.now();
    for (const [pool, entries] of this.pools) {
      for (const [key, entry] of entries) if (entry.expires > now) yield [pool, key, entry.instance, entry.expires];
    }
  }

  async close(): Promise<void> {
    this.pools.clear();
    this.count = 0;
  }

  /**
   * From the front of each pool's Map: expired pins go, refreshed ones move to the back, and
   * past the cap the front ones go regardless; stops at the first unexpired, unrefreshed pin.
   */
  private sweep(now: number): void {
    this.sinceSweep = 0;
    for (const entries of this.pools.values()) {
      for (const [key, entry] of entries) {
        if (entry.expires <= now) {
          entries.delete(key);
          this.count--;
        } else if (entry.expires > entry.placed + this.ttlMs) {
          // Refreshed since placed: to the back, in its new order.
          entries.delete(key);
          entry.placed = entry.expires - this.ttlMs;
          entries.set(key, entry);
        } else if (this.count > this.cap) {
          entries.delete(key);
          this.count--;
        } else break;
      }
    }
  }
}

/** The one spelling of a pin's identity: shared stores use it as their key suffix too. */
export function pinId(pool: string, key: string): string {
  return `${pool}\u0000${key}`;
}
