/**
 * The SlotStore conformance suite (src/routing/slots.ts): LocalSlots (local-slots.test.ts),
 * RedisSlots against a real redis-server (src/cluster/leases.test.ts) and the workers' IPC
 * proxy run it, so each keeps the same promises: claims walked in order, never more leases
 * than the limit (also when several holders race for the last slot), the limit read on every
 * acquire (adaptive limits move), idempotent release, onFree on a release, close frees.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SlotClaim, SlotLease, SlotStore } from './slots.ts';

export interface SlotStoreTarget {
  /**
   * `holders` stores sharing one count (several replicas or workers). A store that cannot be
   * shared (LocalSlots) is asked for 1 only; `shared` says which.
   */
  create(holders: number): Promise<SlotStore[]>;
  readonly shared: boolean;
  /** Called after each test: stop servers, flush keys. */
  cleanup?(): Promise<void>;
}

let instanceSeq = 0;
/** Instance ids unique per test, so a shared backend's leftovers never leak between tests. */
function ids(n: number): string[] {
  instanceSeq++;
  return Array.from({ length: n }, (_, i) => `conf-${process.pid}-${instanceSeq}-${i}`);
}

export function runSlotStoreConformance(name: string, target: SlotStoreTarget): void {
  describe(`SlotStore conformance: ${name}`, () => {
    const open: SlotStore[] = [];
    const create = async (holders: number): Promise<SlotStore[]> => {
      const stores = await target.create(holders);
      open.push(...stores);
      return stores;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
      await target.cleanup?.();
    });

    it('takes the first claim with room, in the given order, and null when all are full', async () => {
      const [store] = await create(1);
      const [a, b] = ids(2);
      const claims: SlotClaim[] = [
        { instanceId: a!, limit: 1 },
        { instanceId: b!, limit: 2 },
      ];
      const first = await store!.acquire(claims);
      expect(first?.instanceId).toBe(a);
      expect(first?.inFlightAtStart).toBe(1);
      const second = await store!.acquire(claims);
      expect(second?.instanceId).toBe(b);
      expect(second?.inFlightAtStart).toBe(1);
      const third = await store!.acquire(claims);
      expect(third?.instanceId).toBe(b);
      expect(third?.inFlightAtStart).toBe(2);
      expect(await store!.acquire(claims)).toBeNull();
      expect(store!.held(a!)).toBe(1);
      expect(store!.held(b!)).toBe(2);
      expect(new Set([first!.id, second!.id, third!.id]).size).toBe(3);
    });

    it('release frees the slot once (a second release is a no-op) and tells onFree listeners', async () => {
      const [store] = await create(1);
      const [a] = ids(1);
      const claims = [{ instanceId: a!, limit: 2 }];
      const one = (await store!.acquire(claims))!;
      const two = (await store!.acquire(claims))!;
      let freed = 0;
      const off = store!.onFree(() => freed++);
      store!.release(one);
      expect(freed).toBeGreaterThanOrEqual(1);
      expect(store!.held(a!)).toBe(1);
      store!.release(one);
      expect(store!.held(a!)).toBe(1);
      // The second release must not have freed another's slot: exactly one is free now.
      const three = await store!.acquire(claims);
      expect(three).not.toBeNull();
      expect(await store!.acquire(claims)).toBeNull();
      off();
      const before = freed;
      store!.release(two);
      expect(freed).toBe(before);
      store!.release(three!);
      expect(store!.held(a!)).toBe(0);
      // Freed slots are there to take again.
      expect(await store!.acquire(claims)).not.toBeNull();
    });

    it('reads the limit on every acquire: a lowered limit admits nothing until streams end, a raised one admits more', async () => {
      const [store] = await create(1);
      const [a] = ids(1);
      const held: SlotLease[] = [];
      for (let i = 0; i < 3; i++) held.push((await store!.acquire([{ instanceId: a!, limit: 3 }]))!);
      expect(held.every(Boolean)).toBe(true);
      expect(await store!.acquire([{ instanceId: a!, limit: 2 }])).toBeNull();
      store!.release(held.pop()!);
      expect(await store!.acquire([{ instanceId: a!, limit: 2 }])).toBeNull();
      expect(await store!.acquire([{ instanceId: a!, limit: 4 }])).not.toBeNull();
    });

    it('an empty claim list takes nothing', async () => {
      const [store] = await create(1);
      expect(await store!.acquire([])).toBeNull();
    });

    it('racing holders never take more than the limit on one instance', async () => {
      const holders = target.shared ? 3 : 1;
      const stores = await create(holders);
      const [a, b] = ids(2);
      const claims = [
        { instanceId: a!, limit: 2 },
        { instanceId: b!, limit: 3 },
      ];
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => stores[i % holders]!.acquire(claims)));
      const taken = results.filter((l): l is SlotLease => l !== null);
      expect(taken.filter((l) => l.instanceId === a).length).toBe(2);
      expect(taken.filter((l) => l.instanceId === b).length).toBe(3);
      // Another holder sees room once one releases (a shared store: once the backend heard).
      const owner = stores[results.indexOf(taken[0]!) % holders]!;
      owner.release(taken[0]!);
      const other = stores[(results.indexOf(taken[0]!) + 1) % holders]!;
      const deadline = Date.now() + 2000;
      let again = await other.acquire(claims);
      while (!again && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        again = await other.acquire(claims);
      }
      expect(again?.instanceId).toBe(taken[0]!.instanceId);
    });

    it('close frees what the store held', async () => {
      const holders = target.shared ? 2 : 1;
      const stores = await create(holders);
      const [a] = ids(1);
      const claims = [{ instanceId: a!, limit: 1 }];
      expect(await stores[0]!.acquire(claims)).not.toBeNull();
      await stores[0]!.close();
      if (target.shared) {
        // Another holder takes the slot once the release reached the backend.
        const deadline = Date.now() + 2000;
        let got: SlotLease | null = null;
        while (!got && Date.now() < deadline) {
          got = await stores[1]!.acquire(claims);
          if (!got) await new Promise((r) => setTimeout(r, 20));
        }
        expect(got).not.toBeNull();
      } else {
        expect(stores[0]!.held(a!)).toBe(0);
      }
    });
  });
}
