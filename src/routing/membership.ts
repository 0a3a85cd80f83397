/**
 * Who is in one pool: the members from config and those added or removed at run time (DNS
 * discovery, operators), the hash ring over them, and the total weight of those that take new
 * sessions. A removed member retires: it leaves the ring at once but stays known (its pinned
 * sessions carry on) until the pool forgets it. Ids are unique per pool; an instance without
 * one gets an id derived from its URL (config.ts instanceIdFromUrl), the same in every replica.
 */
import { instanceIdFromUrl, type InstanceConfig } from '../config.ts';
import { RoutingError } from './errors.ts';
import type { InstanceSpec, PoolInstance } from './instance.ts';
import { HashRing } from './ring.ts';

export interface MembershipOptions {
  /** Pool name (error messages, ids of url-less config instances). */
  readonly pool: string;
  /** Ring virtual nodes per unit of weight. Default 320 (ring.ts). */
  readonly vnodes?: number;
  /** Builds a new member (backend, health, gauges). */
  readonly create: (spec: InstanceSpec) => PoolInstance;
}

export class Membership {
  /** Members and retiring instances. */
  private readonly byId = new Map<string, PoolInstance>();
  private memberList: readonly PoolInstance[];
  private hashRing: HashRing;
  private weight = 0;

  /** `initial`: the config's instances, in ring index order. Throws RoutingError duplicate_instance. */
  constructor(
    private readonly options: MembershipOptions,
    initial: readonly InstanceConfig[],
  ) {
    this.memberList = initial.map((config, i) => {
      const spec: InstanceSpec = { ...config, id: config.id ?? (config.url ? instanceIdFromUrl(config.url) : `${options.pool}-${i + 1}`) };
      if (this.byId.has(spec.id)) throw new RoutingError('duplicate_instance', `pool ${options.pool}: duplicate instance id ${spec.id}`);
      const instance = options.create(spec);
      this.byId.set(spec.id, instance);
      return instance;
    });
    this.hashRing = new HashRing(this.memberList, { vnodes: options.vnodes });
    this.recomputeWeight();
  }

  /** Ring members in ring index order (retiring instances excluded). Replaced, never mutated, on a change. */
  get members(): readonly PoolInstance[] {
    return this.memberList;
  }

  /** The hash ring over `members` (indexes into it). */
  get ring(): HashRing {
    return this.hashRing;
  }

  /** Sum of the weights of available members; current after recomputeWeight(). */
  get availableWeight(): number {
    return this.weight;
  }

  /** A member or a retiring instance by id. */
  get(id: string): PoolInstance | undefined {
    return this.byId.get(id);
  }

  /** Members and retiring instances. */
  all(): IterableIterator<PoolInstance> {
    return this.byId.values();
  }

  /** Members in ring order, then instances still retiring. */
  listed(): readonly PoolInstance[] {
    if (this.memberList.length === this.byId.size) return this.memberList;
    return [...this.memberList, ...[...this.byId.values()].filter((i) => i.retiring)];
  }

  /** Health, drain or membership changed: the available weight again. */
  recomputeWeight(): void {
    let w = 0;
    for (const inst of this.memberList) if (inst.available) w += inst.weight;
    this.weight = w;
  }

  /**
   * Adds an instance to the ring. Re-adding an id that is still retiring brings that same
   * instance back (`rejoined`), with its sessions and state. Throws RoutingError
   * duplicate_instance when the id is already a member, no_instances without an id or url.
   */
  add(config: InstanceConfig): { instance: PoolInstance; rejoined: boolean } {
    const id = config.id ?? (config.url ? instanceIdFromUrl(config.url) : '');
    if (!id) throw new RoutingError('no_instances', `pool ${this.options.pool}: an added instance needs an id or a url`);
    const existing = this.byId.get(id);
    if (existing && !existing.retiring) throw new RoutingError('duplicate_instance', `pool ${this.options.pool}: duplicate instance id ${id}`);
    let instance = existing;
    if (instance) instance.rejoin();
    else {
      instance = this.options.create({ ...config, id });
      this.byId.set(id, instance);
    }
    this.setMembers([...this.memberList, instance]);
    return { instance, rejoined: existing !== undefined };
  }

  /** Takes a member out of the ring; it retires (still known). Undefined when no member has the id. */
  remove(id: string): PoolInstance | undefined {
    const instance = this.byId.get(id);
    if (!instance || instance.retiring) return undefined;
    instance.retire();
    this.setMembers(this.memberList.filter((member) => member !== instance));
    return instance;
  }

  /** Forgets a retired instance for good. */
  forget(instance: PoolInstance): void {
    if (this.byId.get(instance.id) === instance) this.byId.delete(instance.id);
  }

  /** Rebuilds the ring over `members`; the ring knows ids and weights only. */
  private setMembers(members: readonly PoolInstance[]): void {
    this.memberList = members;
    this.hashRing = new HashRing(members, { vnodes: this.options.vnodes });
    this.recomputeWeight();
  }
}
