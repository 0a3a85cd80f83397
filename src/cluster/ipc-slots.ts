/**
 * Stream slots shared by the workers of one process set without Redis (server.workers > 1):
 * the primary holds the one LocalSlots (SlotHost), each worker asks it over IPC (IpcSlots).
 * One round trip per acquire; a release is one-way. A worker that dies has its leases freed by
 * the primary, so its slots never leak.
 */
import { LocalSlots } from '../routing/local-slots.ts';
import type { SlotClaim, SlotLease, SlotStore } from '../routing/slots.ts';
import type { IpcChannel } from './ipc.ts';

/** What a worker asks the primary about slots. */
export type SlotHostMethods = {
  slotAcquire: [readonly SlotClaim[], SlotLease | null];
  slotRelease: [string, void];
};
/** What the primary tells workers about slots. */
export type SlotWorkerMethods = {
  /** A slot freed somewhere (a release on another worker): wake the wait queue. */
  slotFree: [null, void];
};

/** In the primary: one LocalSlots, served to every worker's channel. */
export class SlotHost {
  private readonly slots = new LocalSlots({ idPrefix: 'w' });
  /** Per worker, the leases it holds (by id), so its death frees them. */
  private readonly held = new Map<object, Map<string, SlotLease>>();
  private readonly channels = new Set<IpcChannel<SlotHostMethods, SlotWorkerMethods>>();
  private releasing: object | null = null;

  constructor() {
    // Tell every worker but the releaser (which woke its own queue already).
    this.slots.onFree(() => {
      for (const channel of this.channels) if (channel !== this.releasing) channel.notify('slotFree', null);
    });
  }

  serve(channel: IpcChannel<SlotHostMethods, SlotWorkerMethods>): void {
    const leases = new Map<string, SlotLease>();
    this.held.set(channel, leases);
    this.channels.add(channel);
    channel.handle('slotAcquire', (claims) => {
      const lease = this.slots.acquire(claims);
      if (!lease) return null;
      leases.set(lease.id, lease);
      return { id: lease.id, instanceId: lease.instanceId, inFlightAtStart: lease.inFlightAtStart };
    });
    channel.handle('slotRelease', (id) => {
      const lease = leases.get(id);
      if (!lease) return;
      leases.delete(id);
      this.release(channel, lease);
    });
  }

  /** The worker behind `channel` is gone: its leases are free. */
  drop(channel: IpcChannel<SlotHostMethods, SlotWorkerMethods>): void {
    this.channels.delete(channel);
    const leases = this.held.get(channel);
    this.held.delete(channel);
    for (const lease of leases?.values() ?? []) this.release(null, lease);
  }

  /** Slots on `instanceId` held by all workers. */
  count(instanceId: string): number {
    return this.slots.held(instanceId);
  }

  private release(by: object | null, lease: SlotLease): void {
    this.releasing = by;
    try {
      this.slots.release(lease);
    } finally {
      this.releasing = null;
    }
  }
}

/** In a worker: a SlotStore whose count lives in the primary. */
export class IpcSlots implements SlotStore {
  readonly shared = true;
  private readonly own = new Map<string, number>();
  private readonly leases = new Set<string>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly channel: IpcChannel<SlotWorkerMethods, SlotHostMethods>) {
    channel.handle('slotFree', () => this.freed());
  }

  async acquire(claims: readonly SlotClaim[]): Promise<SlotLease | null> {
    if (claims.length === 0) return null;
    let lease: SlotLease | null;
    try {
      lease = await this.channel.request('slotAcquire', claims);
    } catch {
      // The primary is gone (IpcClosedError) or did not answer in time (IpcTimeoutError): this
      // worker cannot know the count, so it takes nothing. The segment waits for a slot (a
      // release, the wait queue's poll) and, past max_wait_ms, fails with a reason; it never
      // sees a rejection (SlotStore.acquire never rejects).
      return null;
    }
    if (!lease) return null;
    this.leases.add(lease.id);
    this.own.set(lease.instanceId, (this.own.get(lease.instanceId) ?? 0) + 1);
    return lease;
  }

  release(lease: SlotLease): void {
    if (!this.leases.delete(lease.id)) return; // released already
    const held = this.own.get(lease.instanceId) ?? 0;
    if (held <= 1) this.own.delete(lease.instanceId);
    else this.own.set(lease.instanceId, held - 1);
    this.channel.notify('slotRelease', lease.id);
    this.freed();
  }

  /** This worker's own leases on the instance (the primary knows the total). */
  held(instanceId: string): number {
    return this.own.get(instanceId) ?? 0;
  }

  onFree(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const id of this.leases) this.channel.notify('slotRelease', id);
    this.leases.clear();
    this.own.clear();
    this.listeners.clear();
  }

  private freed(): void {
    for (const listener of this.listeners) listener();
  }
}
