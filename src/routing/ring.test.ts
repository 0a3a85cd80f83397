import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RoutingError } from './errors.ts';
import { HashRing } from './ring.ts';
import type { RingMember } from './ring.ts';

const members = (ids: readonly string[], weight = 1): RingMember[] => ids.map((id) => ({ id, weight }));
const keys = (n: number, prefix = 'call-'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
/** The first member's id for every key. */
const pins = (ring: HashRing, list: readonly RingMember[], ks: readonly string[]): string[] => ks.map((k) => list[ring.first(k)].id);

const idSet = fc.uniqueArray(fc.stringMatching(/^[a-z0-9.-]{1,24}$/), { minLength: 2, maxLength: 24 });

describe('HashRing', () => {
  it('removing one member moves only its keys (zero collateral moves)', () => {
    fc.assert(
      fc.property(idSet, fc.nat(), fc.string(), (ids, pick, prefix) => {
        const before = members(ids);
        const gone = ids[pick % ids.length];
        const after = before.filter((m) => m.id !== gone);
        const ks = keys(2000, prefix);
        const a = pins(new HashRing(before), before, ks);
        const b = pins(new HashRing(after), after, ks);
        for (let i = 0; i < ks.length; i++) {
          if (a[i] !== gone) expect(b[i]).toBe(a[i]);
          else expect(b[i]).not.toBe(gone);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('adding a member moves about 1/(N+1) of the keys, all of them to the new member', () => {
    fc.assert(
      fc.property(idSet, fc.stringMatching(/^new-[a-z0-9]{1,8}$/), (ids, added) => {
        const before = members(ids);
        const after = [...before, { id: added, weight: 1 }];
        const ks = keys(5000);
        const a = pins(new HashRing(before), before, ks);
        const b = pins(new HashRing(after), after, ks);
        let moved = 0;
        for (let i = 0; i < ks.length; i++) {
          if (a[i] === b[i]) continue;
          moved++;
          expect(b[i]).toBe(added);
        }
        // 320 points per member: a share is within ~±17 % of fair at 3σ; 1.5× (and ½× below)
        // leaves room for sampling noise. The lower bound matters: a ring that moved nothing
        // would satisfy "all of them to the new member" without the new member taking any key.
        const fair = ks.length / (ids.length + 1);
        expect(moved).toBeLessThanOrEqual(1.5 * fair + 3 * Math.sqrt(fair) + 5);
        expect(moved).toBeGreaterThanOrEqual(0.5 * fair - 3 * Math.sqrt(fair));
      }),
      { numRuns: 40 },
    );
  });

  it('pins do not depend on the order members are listed in', () => {
    fc.assert(
      fc.property(idSet, (ids) => {
        const a = members(ids);
        const b = [...a].reverse();
        const ks = keys(500);
        expect(pins(new HashRing(b), b, ks)).toEqual(pins(new HashRing(a), a, ks));
      }),
      { numRuns: 30 },
    );
  });

  it('order() lists every member once, starting with first()', () => {
    const list = members(['a', 'b', 'c', 'd', 'e']);
    const ring = new HashRing(list);
    for (const k of keys(200)) {
      const order = ring.order(k);
      expect(new Set(order).size).toBe(list.length);
      expect(order[0]).toBe(ring.first(k));
      expect(ring.order(k, 2)).toEqual(order.slice(0, 2));
    }
  });

  it('weights shift the share of keys', () => {
    const list = [{ id: 'small', weight: 1 }, { id: 'big', weight: 3 }];
    const ring = new HashRing(list);
    const ks = keys(20_000);
    const big = pins(ring, list, ks).filter((id) => id === 'big').length / ks.length;
    expect(big).toBeGreaterThan(0.68);
    expect(big).toBeLessThan(0.82);
  });

  it('raising a weight moves keys, and only onto that member', () => {
    const before = members(['a', 'b', 'c', 'd']);
    const after = before.map((m) => (m.id === 'c' ? { id: 'c', weight: 2 } : m));
    const ks = keys(5000);
    const a = pins(new HashRing(before), before, ks);
    const b = pins(new HashRing(after), after, ks);
    let moved = 0;
    for (let i = 0; i < ks.length; i++) {
      if (a[i] === b[i]) continue;
      moved++;
      expect(b[i]).toBe('c');
    }
    // c's share goes from 1/4 to 2/5: about 15 % of the keys (750) move to it.
    expect(moved).toBeGreaterThan(0.5 * 0.15 * ks.length);
    expect(moved).toBeLessThan(1.5 * 0.15 * ks.length);
  });

  it('refuses duplicate ids; an empty ring has no member', () => {
    expect(() => new HashRing(members(['a', 'a']))).toThrow(RoutingError);
    expect(new HashRing([]).first('k')).toBe(-1);
  });

  it('is the same in every process: fixed pins for fixed keys', () => {
    // Golden values: a change here moves every live call in a rolling upgrade. Change knowingly.
    const list = members(['gpu-1', 'gpu-2', 'gpu-3', 'gpu-4']);
    const ring = new HashRing(list);
    expect(pins(ring, list, ['CA0001', 'CA0002', 'CA0003', 'conv-42', 'call-7'])).toEqual(['gpu-2', 'gpu-4', 'gpu-4', 'gpu-3', 'gpu-1']);
  });
});
