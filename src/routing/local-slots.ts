/**
 * Stream slots counted in this process (src/routing/slots.ts): the store without Redis, the
 * store behind the workers' IPC proxy in the primary, and RedisSlots' fallback while Redis is
 * down. Synchronous: acquire returns the lease or null, never a promise.
 */
import type { SlotClaim, SlotLease, SlotStore } from './slots.ts';

/** Streams held on one instance; a lease points at its counter, so release needs no lookup. */
class Counter {
  held = 0;
}

class LocalLease implements SlotLease {
  released = false;
  constructor(
    private readonly prefix: string,
    private readonly seq: number,
    readonly instanceId: string,
    readonly inFlightAtStart: number,
    readonly counter: Counter,
  ) {}

  /** Built on demand: the local hot path never reads it, an IPC proxy does. */
  get id(): string {
    return this.prefix + this.seq;
  }
}

export interface LocalSlotsOptions {
  /** Prefix of lease ids, so ids stay unique when several stores feed one registry. Default 'l'. */
  readonly idPrefix?: string;
}

export class LocalSlots implements SlotStore {
  readonly shared = false;
  private readonly counts = new Map<string, Counter>();
  private readonly listeners = new Set<() => void>();
  private readonly idPrefix: string;
  private next = 0;

  constructor(options: LocalSlotsOptions = {}) {
    this.idPrefix = options.idPrefix ?? 'l';
  }

  acquire(claims: readonly SlotClaim[]): SlotLease | null {
    for (let i = 0; i < claims.length; i++) {
      const claim = claims[i]!;
      let counter = this.counts.get(claim.instanceId);
      if (counter === undefined) this.counts.set(claim.instanceId, (counter = new Counter()));
      if (counter.held >= claim.limit) continue;
      counter.held++;
      return new LocalLease(this.idPrefix, ++this.next, claim.instanceId, counter.held, counter);
    }
    return null;
  }

  release(lease: SlotLease): void {
    const own = lease as LocalLease;
    if (own.released) return;
    own.released = true;
    // Counters stay in the map (one per instance ever seen: bounded by the fleet).
    own.counter.held--;
    if (this.listeners.size > 0) for (const listener of this.listeners) listener();
  }

  held(instanceId: string): number {
    return this.counts.get(instanceId)?.held ?? 0;
  }

  onFree(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.counts.clear();
    this.listeners.clear();
  }
}
