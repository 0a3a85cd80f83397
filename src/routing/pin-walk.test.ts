import { describe, expect, it } from 'vitest';
import { FakeBackend, testPoolConfig } from '../../test/helpers/routing.ts';
import { PoolInstance } from './instance.ts';
import { Membership } from './membership.ts';
import { PinWalk } from './pin-walk.ts';
import { LocalPinStore } from './pins.ts';

function setup(spec: { instances?: number; load_epsilon?: number; weights?: number[] } = {}, pins?: LocalPinStore) {
  const config = testPoolConfig(spec);
  const membership = new Membership({ pool: 'p', create: (s) => new PoolInstance({ pool: config, spec: s, backend: new FakeBackend(), onHealth: () => {}, onLimit: () => {} }) }, config.instances);
  const walk = new PinWalk({ pool: 'p', membership, epsilon: config.load_epsilon, pins });
  return { membership, walk, get: (id: string) => membership.get(id)! };
}

describe('PinWalk', () => {
  it('a new session takes the first instance of its hash order below ceil((1+ε)·m·w/W)', () => {
    const { walk, membership } = setup({ instances: 4, load_epsilon: 0 });
    // ε = 0: after k sessions every instance holds at most ceil(k/4).
    for (let k = 1; k <= 40; k++) {
      const inst = walk.pin(`key-${k}`)!;
      expect(inst).not.toBeNull();
      for (const m of membership.members) expect(m.sessions).toBeLessThanOrEqual(Math.ceil(k / 4));
    }
    expect(walk.totalSessions).toBe(40);
  });

  it('takes the first choice when it has room, else the next in the key own order', () => {
    const { walk } = setup({ instances: 4, load_epsilon: 0 });
    const order = walk.candidates('target').map((i) => i.id);
    expect(walk.pin('target')!.id).toBe(order[0]);
    const fresh = setup({ instances: 4, load_epsilon: 0 });
    // Fill the target's first choice to its cap with other keys first.
    for (let n = 0; fresh.get(order[0]!).sessions === 0; n++) {
      const inst = fresh.walk.pin(`filler-${n}`)!;
      if (inst.id !== order[0]) fresh.walk.release(`filler-${n}`, inst as PoolInstance);
    }
    expect(fresh.walk.pin('target')!.id).toBe(order[1]);
  });

  it('a second connection of a live session joins its pin and counts once; release says when the session left', () => {
    const { walk } = setup({ instances: 3 });
    const first = walk.pin('CA1')! as PoolInstance;
    expect(walk.pin('CA1')).toBe(first);
    expect(first.sessions).toBe(1);
    expect(first.connectionsOf('CA1')).toBe(2);
    expect(walk.release('CA1', first)).toBe(false);
    expect(walk.release('CA1', first)).toBe(true);
    expect(walk.release('CA1', first)).toBe(false); // not pinned there any more
    expect(first.sessions).toBe(0);
    expect(walk.totalSessions).toBe(0);
  });

  it('a remembered pin wins over the loads while its instance is available', async () => {
    const pins = new LocalPinStore({ ttlMs: 60_000 });
    const { walk, get } = setup({ instances: 3 }, pins);
    pins.remember('p', 'CA-back', 'gpu-2');
    expect(walk.pin('CA-back')!.id).toBe('gpu-2');
    walk.release('CA-back', get('gpu-2'));
    get('gpu-2').setDraining(true);
    expect(walk.pin('CA-back')!.id).not.toBe('gpu-2');
    await pins.close();
  });

  it('candidates: available instances in hash order, minus exclude, up to limit; none when nothing is available', () => {
    const { walk, membership, get } = setup({ instances: 5 });
    const all = walk.candidates('k').map((i) => i.id);
    expect([...all].sort()).toEqual(['gpu-0', 'gpu-1', 'gpu-2', 'gpu-3', 'gpu-4']);
    expect(walk.candidates('k', new Set([all[0]!]), 2).map((i) => i.id)).toEqual(all.slice(1, 3));
    get(all[1]!).setDraining(true);
    expect(walk.candidates('k', undefined, 2).map((i) => i.id)).toEqual([all[0], all[2]]);
    expect(walk.candidates('k', undefined, 0)).toEqual([]);
    for (const m of membership.members) m.setDraining(true);
    membership.recomputeWeight();
    expect(walk.candidates('k')).toEqual([]);
    expect(walk.pin('k')).toBeNull();
  });
});
