/**
 * The PinStore conformance suite (pins.ts): every implementation runs it — LocalPinStore
 * (pins.test.ts), RedisPinStore (cluster/redis-pins.test.ts), and the workers' IPC proxy — so
 * the Router above behaves the same on any of them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PinStore } from './pins.ts';

/** Two views of one shared truth (for a process-local store, the same store twice). */
export interface PinStorePair {
  readonly a: PinStore;
  readonly b: PinStore;
  /** Resolves once a `remember` on one view is visible on the other. Local stores: at once. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export interface PinStoreTraits {
  /** Builds a fresh, empty pair with the given TTL. */
  make(ttlMs: number): Promise<PinStorePair>;
}

export function pinStoreConformance(name: string, traits: PinStoreTraits): void {
  describe(`PinStore conformance: ${name}`, () => {
    let pair: PinStorePair | null = null;
    afterEach(async () => {
      await pair?.close();
      pair = null;
    });

    it('recalls what was remembered, on either view, per pool and key', async () => {
      pair = await traits.make(60_000);
      expect(pair.a.recall('kokoro', 'call-1')).toBeUndefined();
      pair.a.remember('kokoro', 'call-1', 'gpu-3');
      pair.a.remember('qwen', 'call-1', 'gpu-9');
      await pair.settle();
      for (const view of [pair.a, pair.b]) {
        expect(view.recall('kokoro', 'call-1')).toBe('gpu-3');
        expect(view.recall('qwen', 'call-1')).toBe('gpu-9');
        expect(view.recall('kokoro', 'call-2')).toBeUndefined();
      }
    });

    it('the latest remember wins (a failover re-pin), whichever view made it', async () => {
      pair = await traits.make(60_000);
      pair.a.remember('kokoro', 'call-1', 'gpu-3');
      await pair.settle();
      pair.b.remember('kokoro', 'call-1', 'gpu-5');
      await pair.settle();
      expect(pair.a.recall('kokoro', 'call-1')).toBe('gpu-5');
      expect(pair.b.recall('kokoro', 'call-1')).toBe('gpu-5');
    });

    it('forgets a pin its TTL after the last remember, and a refresh extends it', { timeout: 10_000 }, async () => {
      // 'old' is read at least 400 ms after it expires, 'refreshed' 800 ms before: room for a loaded machine.
      pair = await traits.make(2000);
      pair.a.remember('kokoro', 'old', 'gpu-1');
      pair.a.remember('kokoro', 'refreshed', 'gpu-2');
      await pair.settle();
      await new Promise((r) => setTimeout(r, 1200));
      pair.a.remember('kokoro', 'refreshed', 'gpu-2');
      await pair.settle();
      await new Promise((r) => setTimeout(r, 1200));
      expect(pair.a.recall('kokoro', 'old')).toBeUndefined();
      expect(pair.b.recall('kokoro', 'old')).toBeUndefined();
      expect(pair.a.recall('kokoro', 'refreshed')).toBe('gpu-2');
    });

    it('keys with separators and unicode stay distinct', async () => {
      pair = await traits.make(60_000);
      pair.a.remember('p', 'a:b', 'x');
      pair.a.remember('p:a', 'b', 'y');
      pair.a.remember('p', 'звонок ☎', 'z');
      await pair.settle();
      expect(pair.b.recall('p', 'a:b')).toBe('x');
      expect(pair.b.recall('p:a', 'b')).toBe('y');
      expect(pair.b.recall('p', 'звонок ☎')).toBe('z');
    });
  });
}
