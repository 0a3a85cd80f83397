/**
 * Stream slots counted in this process (src/routing/slots.ts): the store without Redis, the
 * store behind the workers' IPC proxy in the primary, and RedisSlots' fallback while Redis is
 * down. Synchronous: acquire returns the lease or null, never a promise.
 */
import type { SlotClaim, SlotLease, SlotStore } from './slots.ts';

class LocalLease implements SlotLease {
  released = false;
  constructor(
    readonly id: string,
    readonly instanceId: string,
    readonly inFlightAtStart: number,
  ) {}
}

export interface LocalSlotsOptions {
  /** Prefix of lease ids, so ids stay unique when several stores feed one registry. Default 'l'. */
  readonly idPrefix?: string;
}

export class LocalSlots implements SlotStore {
  readonly shared = false;
  private readonly counts = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private readonly idPrefix: string;
  private next = 0;

  constructor(options: LocalSlotsOptions = {}) {
    this.idPrefix = options.idPrefix ?? 'l';
  }

  acquire(claims: readonly SlotClaim[]): SlotLease | null {
    for (let i = 0; i < claims.length; i++) {
      const claim = claims[i]!;
      const held = this.counts.get(claim.instanceId) ?? 0;
      if (held >= claim.limit) continue;
      this.counts.set(claim.instanceId, held + 1);
      return new LocalLease(`${this.idPrefix}${++this.next}`, claim.instanceId, held + 1);
    }
    return null;
  }

  release(lease: SlotLease): void {
    const own = lease as LocalLease;
    if (own.released) return;
    own.released = true;
    const held = this.counts.get(lease.instanceId) ?? 0;
    if (held <= 1) this.counts.delete(lease.instanceId);
    else this.counts.set(lease.instanceId, held - 1);
    for (const listener of this.listeners) listener();
  }

  held(instanceId: string): number {
    return this.counts.get(instanceId) ?? 0;
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
