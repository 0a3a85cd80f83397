import { describe, expect, it } from 'vitest';
import { pinStoreConformance } from './pins.common.case.ts';
import { LocalPinStore } from './pins.ts';
import { Pool } from './pool.ts';
import { FakeBackend, testPoolConfig } from '../../test/helpers/routing.ts';

pinStoreConformance('LocalPinStore', {
  async make(ttlMs) {
    const store = new LocalPinStore({ ttlMs });
    return { a: store, b: store, settle: async () => {}, close: () => store.close() };
  },
});

describe('LocalPinStore memory bound', () => {
  it('keeps at most `cap` pins, forgetting the least recently remembered first', () => {
    let now = 0;
    const store = new LocalPinStore({ ttlMs: 60_000, cap: 3, now: () => now });
    for (const key of ['a', 'b', 'c']) {
      now++;
      store.remember('p', key, key.toUpperCase());
    }
    now++;
    store.remember('p', 'a', 'A'); // refreshed: now the newest
    now++;
    store.remember('p', 'd', 'D');
    expect(store.size).toBe(3);
    expect(store.recall('p', 'b')).toBeUndefined();
    expect(store.recall('p', 'a')).toBe('A');
    expect(store.recall('p', 'd')).toBe('D');
    expect(store.recall('p', 'c')).toBe('C');
  });

  it('drops expired pins from the front as new ones arrive (no timers)', () => {
    let now = 0;
    const store = new LocalPinStore({ ttlMs: 1000, now: () => now });
    for (let i = 0; i < 100; i++) store.remember('p', `old-${i}`, 'X');
    now = 2000;
    // A sweep runs once per 1024 remembers: memory is bounded by the cap and the sweep.
    for (let i = 0; i < 1024; i++) store.remember('p', 'new', 'Y');
    expect(store.size).toBe(1);
    expect(store.recall('p', 'old-5')).toBeUndefined();
  });
});

describe('Pool with remembered pins', () => {
  function pool(pins?: LocalPinStore): Pool {
    return new Pool({ config: testPoolConfig({ instances: 10, maxConcurrency: 4 }), createBackend: () => new FakeBackend(), pins });
  }

  /** Pins `keys` all at once (loads in play), then releases them. */
  function pinAll(router: Pool, keys: string[]): Map<string, string> {
    const out = new Map<string, string>();
    for (const key of keys) out.set(key, router.pin(key)!.id);
    for (const key of keys) router.release(key, router.instance(out.get(key)!)!);
    return out;
  }

  it('a reconnect under different loads keeps its instance (without the store some move)', () => {
    const keys = Array.from({ length: 200 }, (_, i) => `call-${i}`);
    for (const store of [new LocalPinStore({ ttlMs: 60_000 }), undefined]) {
      const router = pool(store);
      const first = pinAll(router, keys);
      // Reversed order: each key meets other loads than the first time.
      const again = pinAll(router, [...keys].reverse());
      const kept = keys.filter((k) => again.get(k) === first.get(k)).length;
      if (store) expect(kept).toBe(200);
      else expect(kept).toBeLessThan(200);
    }
  });

  it('a remembered instance that is draining is not used: the session walks its hash order', () => {
    const store = new LocalPinStore({ ttlMs: 60_000 });
    const router = pool(store);
    const first = pinAll(router, ['k']).get('k')!;
    router.setDraining(first, true);
    const again = pinAll(router, ['k']).get('k')!;
    expect(again).not.toBe(first);
    // The new home is remembered now.
    expect(store.recall('p', 'k')).toBe(again);
  });
});
