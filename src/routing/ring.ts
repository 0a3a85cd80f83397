/**
 * Consistent-hash ring with virtual nodes (Karger et al.), the hash order behind pinning.
 * docs/routing.md says why a ring rather than rendezvous or Maglev (measured in
 * bench/routing.ts): zero collateral moves, O(log n) lookup, cheap rebuild.
 *
 * The ring knows members and weights only. Health, drain and load are filters the pool applies
 * while walking it, so a member going down or coming back never rebuilds the ring and never
 * moves a session that was not on it.
 */
import { RoutingError } from './errors.ts';
import { fmix32, murmur3 } from './hash.ts';

export interface RingMember {
  readonly id: string;
  /** Relative share; 1 is the baseline (`vnodes` points). */
  readonly weight: number;
}

export interface RingOptions {
  /** Virtual nodes per unit of weight. Default 320 (bench/routing.ts: balance vs rebuild time). */
  readonly vnodes?: number;
}

export const DEFAULT_VNODES = 320;
/** Points one member may hold at most, whatever its weight (memory bound). */
const MAX_POINTS_PER_MEMBER = 100_000;
/** Instances per pool at most (a sanity bound; memory is the real limit). */
const MAX_MEMBERS = 0x10000;

export class HashRing {
  readonly size: number;
  /** Ring positions, ascending. */
  private readonly points: Uint32Array;
  /** Member index (position in the constructor's list) owning each point. */
  private readonly owners: Uint32Array;
  /** Walk scratch: seen[member] === epoch marks a member already yielded by this walk. */
  private readonly seen: Uint32Array;
  private epoch = 0;

  constructor(members: readonly RingMember[], options: RingOptions = {}) {
    const vnodes = options.vnodes ?? DEFAULT_VNODES;
    this.size = members.length;
    if (members.length > MAX_MEMBERS) {
      throw new RoutingError('too_many_instances', `a pool holds at most ${MAX_MEMBERS} instances`);
    }
    // Ties between equal positions break by id, not by list order, so two gateways with the
    // same instances listed in different orders compute the same pins.
    const byId = members.map((_, i) => i).sort((a, b) => (members[a].id < members[b].id ? -1 : members[a].id > members[b].id ? 1 : 0));
    const rankToIndex = new Uint32Array(members.length);
    const counts = new Uint32Array(members.length);
    let total = 0;
    byId.forEach((index, rank) => {
      if (rank > 0 && members[byId[rank - 1]].id === members[index].id) {
        throw new RoutingError('duplicate_instance', `duplicate instance id ${members[index].id}`);
      }
      rankToIndex[rank] = index;
      counts[rank] = Math.min(MAX_POINTS_PER_MEMBER, Math.max(1, Math.round(vnodes * members[index].weight)));
      total += counts[rank];
    });
    const points = new Uint32Array(total);
    const owners = new Uint32Array(total);
    let p = 0;
    for (let rank = 0; rank < members.length; rank++) {
      const id = members[rankToIndex[rank]].id;
      // Point j of a member: double hashing from two seeds of its id, finalized. Prefix-stable,
      // so raising a weight adds points and keeps the old ones; cheaper than rehashing the id
      // string per point (the rebuild time is in bench/RESULTS.md, Routing).
      const h1 = murmur3(id, 0);
      const h2 = murmur3(id, 0x9747b28c) | 1;
      const index = rankToIndex[rank];
      for (let j = 0; j < counts[rank]; j++) {
        points[p] = fmix32((h1 + Math.imul(j, h2)) | 0);
        owners[p++] = index;
      }
    }
    // Points were generated in id order and the radix sort is stable: ties break by id.
    radixSort(points, owners);
    this.points = points;
    this.owners = owners;
    this.seen = new Uint32Array(members.length);
  }

  /** Number of points on the ring. */
  get pointCount(): number {
    return this.points.length;
  }

  /** The first point at or after the key's hash (wrapping). */
  private startOf(key: string): number {
    const h = murmur3(key);
    const points = this.points;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }

  /** The key's first member (its pin when every member is available). -1 on an empty ring. */
  first(key: string): number {
    return this.size === 0 ? -1 : this.owners[this.startOf(key)];
  }

  /**
   * Walks the key's hash order: distinct members clockwise from the key, each once, until
   * `visit` returns true (stop) or every member was seen. Returns the member `visit` stopped
   * on, or -1. Synchronous and not re-entrant (it shares one scratch array), which is why it
   * takes a callback rather than returning a lazy iterator.
   */
  walk(key: string, visit: (member: number) => boolean): number {
    const n = this.size;
    if (n === 0) return -1;
    const owners = this.owners;
    const total = owners.length;
    const seen = this.seen;
    if (++this.epoch === 0xffffffff) {
      seen.fill(0);
      this.epoch = 1;
    }
    const epoch = this.epoch;
    let found = 0;
    let i = this.startOf(key);
    for (let step = 0; step < total; step++) {
      const m = owners[i];
      if (seen[m] !== epoch) {
        seen[m] = epoch;
        if (visit(m)) return m;
        if (++found === n) return -1;
      }
      if (++i === total) i = 0;
    }
    return -1;
  }

  /** The key's first `limit` distinct members in hash order (tests, tools). */
  order(key: string, limit = this.size): number[] {
    const out: number[] = [];
    if (limit <= 0) return out;
    this.walk(key, (m) => out.push(m) >= limit);
    return out;
  }
}

/** LSD radix sort of 32-bit keys (two 16-bit passes), carrying values; stable. */
function radixSort(keys: Uint32Array, values: Uint32Array): void {
  const n = keys.length;
  const tmpK = new Uint32Array(n);
  const tmpV = new Uint32Array(n);
  const counts = new Uint32Array(65536);
  radixPass(keys, values, tmpK, tmpV, counts, 0);
  radixPass(tmpK, tmpV, keys, values, counts, 16);
}

function radixPass(srcK: Uint32Array, srcV: Uint32Array, dstK: Uint32Array, dstV: Uint32Array, counts: Uint32Array, shift: number): void {
  const n = srcK.length;
  counts.fill(0);
  for (let i = 0; i < n; i++) counts[(srcK[i] >>> shift) & 0xffff]++;
  let sum = 0;
  for (let b = 0; b < 65536; b++) {
    const c = counts[b];
    counts[b] = sum;
    sum += c;
  }
  for (let i = 0; i < n; i++) {
    const k = srcK[i];
    const at = counts[(k >>> shift) & 0xffff]++;
    dstK[at] = k;
    dstV[at] = srcV[i];
  }
}
