/**
 * Pinning sessions to instances (docs/routing.md "Pinning"): the walk over the hash ring with
 * bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018) for a new session, the remembered pin
 * (pins.ts) for a returning one, the failover order (`candidates`), and the count of distinct
 * sessions per instance that the load bound reads.
 *
 * Walks are synchronous and their predicates are created once, so a lookup allocates nothing
 * but its result.
 */
import type { PoolInstance } from './instance.ts';
import type { Membership } from './membership.ts';
import type { PinStore } from './pins.ts';
import type { Instance } from './router.ts';

/** Walk state between walks: one shared empty array, so resetting it allocates nothing. */
const NO_MEMBERS: readonly PoolInstance[] = [];

export interface PinWalkOptions {
  /** Pool name (the pin store's namespace). */
  readonly pool: string;
  readonly membership: Membership;
  /** pools[].load_epsilon (config default 0.25): a cap of (1+ε)× the fair share. */
  readonly epsilon: number;
  /** Remembered pins (cluster.pin_ttl_s). Default: none, pins live while a connection does. */
  readonly pins?: PinStore;
}

export class PinWalk {
  private readonly membership: Membership;
  private readonly pins: PinStore | undefined;
  private readonly pool: string;
  private readonly epsilon: number;
  /** Latest pin by session key: a reconnect while the first connection lives reuses it. */
  private readonly live = new Map<string, PoolInstance>();
  private sessionTotal = 0;

  // Walk state, set just before a ring walk.
  private walkMembers: readonly PoolInstance[] = NO_MEMBERS;
  private capPerWeight = 0;
  private walkExclude: ReadonlySet<string> | undefined;
  /** The candidates list being filled; null between walks. */
  private walkOut: Instance[] | null = null;
  private walkLimit = 0;
  private readonly acceptForPin = (i: number): boolean => {
    const inst = this.walkMembers[i]!;
    // 1e-9: (1+ε)·m·w/W computed in floating point must not round a whole cap up by one.
    return inst.available && inst.sessions < Math.ceil(this.capPerWeight * inst.weight - 1e-9);
  };
  private readonly acceptCandidate = (i: number): boolean => {
    const inst = this.walkMembers[i]!;
    const out = this.walkOut!;
    if (inst.available && !(this.walkExclude?.has(inst.id) ?? false)) out.push(inst);
    return out.length >= this.walkLimit;
  };

  constructor(options: PinWalkOptions) {
    this.membership = options.membership;
    this.pins = options.pins;
    this.pool = options.pool;
    this.epsilon = options.epsilon;
  }

  /** Distinct sessions pinned in the pool (the `m` of the load bound). */
  get totalSessions(): number {
    return this.sessionTotal;
  }

  /**
   * Admits a connection of session `key`: its live pin, else its remembered pin, else the
   * first available instance in its hash order below its bounded-load cap. null when no
   * instance is available.
   */
  pin(key: string): PoolInstance | null {
    const current = this.live.get(key);
    if (current?.available) {
      this.count(current, key);
      return current;
    }
    const membership = this.membership;
    if (membership.availableWeight <= 0) return null;
    // A remembered pin wins over the loads: a reconnect (here or on another replica) keeps its
    // instance while that instance is available; only sessions whose instance left move.
    const remembered = this.pins?.recall(this.pool, key);
    if (remembered !== undefined) {
      const inst = membership.get(remembered);
      if (inst?.available) {
        this.moveTo(key, inst);
        return inst;
      }
    }
    // Bounded loads: instance i takes at most ceil((1+ε)·m·w_i/W) sessions, m counting this one.
    // The caps of available instances sum to more than m, so some instance always has room.
    this.capPerWeight = ((1 + this.epsilon) * (this.sessionTotal + 1)) / membership.availableWeight;
    this.walkMembers = membership.members;
    const index = membership.ring.walk(key, this.acceptForPin);
    const instance = index < 0 ? null : this.walkMembers[index]!;
    this.walkMembers = NO_MEMBERS;
    if (instance) this.moveTo(key, instance);
    return instance;
  }

  /**
   * One connection of `key` on `instance` ended. True when that was the session's last there
   * (the instance lost a session); false when another connection lives or it was not pinned there.
   */
  release(key: string, instance: PoolInstance): boolean {
    const last = instance.dropConnection(key);
    if (last !== true) return false;
    this.sessionTotal--;
    if (this.live.get(key) === instance) {
      this.live.delete(key);
      // The session's last activity: its pin is remembered pin_ttl_s from now.
      this.pins?.remember(this.pool, key, instance.id);
    }
    return true;
  }

  /** Counts a connection of `key` on `instance` and makes it the session's pin (failover, remembered pin). */
  moveTo(key: string, instance: PoolInstance): void {
    this.count(instance, key);
    this.live.set(key, instance);
    this.pins?.remember(this.pool, key, instance.id);
  }

  /**
   * The session's failover order: available instances in its hash order minus `exclude`,
   * not filtered by session caps. `limit` stops the walk early: the full order at N = 1000
   * walks thousands of ring points.
   */
  candidates(key: string, exclude?: ReadonlySet<string>, limit = Number.POSITIVE_INFINITY): Instance[] {
    const out: Instance[] = [];
    if (limit <= 0) return out;
    this.walkMembers = this.membership.members;
    this.walkOut = out;
    this.walkExclude = exclude;
    this.walkLimit = limit;
    this.membership.ring.walk(key, this.acceptCandidate);
    this.walkMembers = NO_MEMBERS;
    this.walkOut = null;
    this.walkExclude = undefined;
    return out;
  }

  /** A removed instance: no session's live pin points at it any more. */
  forget(instance: PoolInstance): void {
    for (const [key, pinned] of this.live) if (pinned === instance) this.live.delete(key);
  }

  private count(instance: PoolInstance, key: string): void {
    if (instance.addConnection(key)) this.sessionTotal++;
  }
}
