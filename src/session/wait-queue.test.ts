import { describe, expect, it } from 'vitest';
import { WaitQueue, type WaitClass, type Waiter } from './wait-queue.ts';

/** A waiter that takes a slot from `free` when one is left. */
function waiter(queue: WaitQueue, klass: WaitClass, name: string, free: { n: number }, granted: string[], since = 0, ahead: () => number = () => 0): Waiter {
  const w: Waiter = {
    class: klass,
    since,
    aheadMs: ahead,
    offer: () => {
      if (free.n <= 0) return false;
      free.n--;
      granted.push(name);
      queue.remove(w, 'granted');
      return true;
    },
  };
  return w;
}

describe('WaitQueue', () => {
  it('grants in class order (continuing, new_turn, http), FIFO within a class', () => {
    const free = { n: 0 };
    const granted: string[] = [];
    const queue = new WaitQueue({ pool: 'p', patienceMs: 1000, hasCapacity: () => free.n > 0 });
    queue.enqueue(waiter(queue, 'http', 'h1', free, granted));
    queue.enqueue(waiter(queue, 'new_turn', 'n1', free, granted));
    queue.enqueue(waiter(queue, 'continuing', 'c1', free, granted));
    queue.enqueue(waiter(queue, 'new_turn', 'n2', free, granted));
    queue.enqueue(waiter(queue, 'continuing', 'c2', free, granted));
    expect(queue.size).toBe(5);
    free.n = 3;
    queue.pump();
    expect(granted).toEqual(['c1', 'c2', 'n1']);
    free.n = 5;
    queue.pump();
    expect(granted).toEqual(['c1', 'c2', 'n1', 'n2', 'h1']);
    expect(queue.size).toBe(0);
  });

  it('passes over a waiter that cannot use what is free, which keeps its place', () => {
    const granted: string[] = [];
    let pinFree = false;
    const queue = new WaitQueue({ pool: 'p', patienceMs: 1000, hasCapacity: () => true });
    const picky: Waiter = { class: 'continuing', since: 0, aheadMs: () => 0, offer: () => (pinFree ? (granted.push('picky'), queue.remove(picky, 'granted')) : false) };
    let taken = false;
    const easy: Waiter = { class: 'continuing', since: 0, aheadMs: () => 0, offer: () => (!taken ? ((taken = true), granted.push('easy'), queue.remove(easy, 'granted')) : false) };
    queue.enqueue(picky);
    queue.enqueue(easy);
    expect(granted).toEqual(['easy']);
    expect(queue.position(picky)).toBe(1);
    pinFree = true;
    queue.pump();
    expect(granted).toEqual(['easy', 'picky']);
  });

  it('stops offering once nothing is free (hasCapacity), and reports position and age', () => {
    let offers = 0;
    let now = 100;
    const queue = new WaitQueue({ pool: 'p', patienceMs: 1000, hasCapacity: () => false, now: () => now });
    const w = (klass: WaitClass, since: number): Waiter => ({ class: klass, since, aheadMs: () => 0, offer: () => (offers++, false) });
    const a = w('http', 100);
    const b = w('continuing', 150);
    queue.enqueue(a);
    queue.enqueue(b);
    expect(offers).toBe(0);
    expect(queue.position(b)).toBe(1);
    expect(queue.position(a)).toBe(2);
    now = 400;
    expect(queue.oldestWaitMs()).toBe(300);
  });

  it('counts depth per class and reports each leave with its wait and outcome', () => {
    const depths: string[] = [];
    const leaves: string[] = [];
    let now = 0;
    const queue = new WaitQueue({ pool: 'p', patienceMs: 1000, hasCapacity: () => false, now: () => now, onDepth: (k, d) => depths.push(`${k}=${d}`), onLeave: (k, ms, o) => leaves.push(`${k}:${ms}:${o}`) });
    const a: Waiter = { class: 'new_turn', since: 0, aheadMs: () => 0, offer: () => false };
    queue.enqueue(a);
    now = 250;
    expect(queue.remove(a, 'gave_up')).toBe(true);
    expect(queue.remove(a, 'gave_up')).toBe(false);
    expect(depths).toEqual(['new_turn=1', 'new_turn=0']);
    expect(leaves).toEqual(['new_turn:250:gave_up']);
  });

  it('a grant that frees another slot while pumping is served in the same pump', () => {
    const free = { n: 1 };
    const granted: string[] = [];
    const queue = new WaitQueue({ pool: 'p', patienceMs: 1000, hasCapacity: () => free.n > 0 });
    const first: Waiter = {
      class: 'continuing',
      since: 0,
      aheadMs: () => 0,
      offer: () => {
        free.n--;
        granted.push('first');
        queue.remove(first, 'granted');
        free.n++; // e.g. it finished at once and released
        queue.pump();
        return true;
      },
    };
    queue.enqueue(waiter(queue, 'continuing', 'second', { n: 0 }, granted));
    free.n = 0;
    queue.enqueue(first);
    free.n = 1;
    const second = waiter(queue, 'new_turn', 'third', free, granted);
    queue.enqueue(second);
    expect(granted).toEqual(['first', 'third']);
  });

  it('a caller with at least patienceMs of audio ahead waits behind every caller with less, earliest deadline first among them', () => {
    const free = { n: 0 };
    const granted: string[] = [];
    const queue = new WaitQueue({ pool: 'p', patienceMs: 1000, hasCapacity: () => free.n > 0 });
    // A session minutes ahead (99,000 digits) and one a few seconds ahead, both mid-turn...
    const minutesAhead = waiter(queue, 'continuing', 'minutes-ahead', free, granted, 0, () => 300_000);
    queue.enqueue(minutesAhead);
    queue.enqueue(waiter(queue, 'continuing', 'seconds-ahead', free, granted, 0, () => 3_000));
    // ...then callers who hear nothing: a new turn and an HTTP request, and a turn about to run dry.
    queue.enqueue(waiter(queue, 'new_turn', 'silent-turn', free, granted));
    queue.enqueue(waiter(queue, 'http', 'silent-http', free, granted));
    queue.enqueue(waiter(queue, 'continuing', 'running-dry', free, granted, 0, () => 999));
    expect(queue.position(minutesAhead)).toBe(5);
    free.n = 3;
    queue.pump();
    expect(granted).toEqual(['running-dry', 'silent-turn', 'silent-http']);
    free.n = 2;
    queue.pump();
    expect(granted).toEqual(['running-dry', 'silent-turn', 'silent-http', 'seconds-ahead', 'minutes-ahead']);
  });

  it('reads the audio ahead at every pump: a waiter whose caller ran dry while waiting moves up', () => {
    const free = { n: 0 };
    const granted: string[] = [];
    const queue = new WaitQueue({ pool: 'p', patienceMs: 1000, hasCapacity: () => free.n > 0 });
    let ahead = 5_000;
    queue.enqueue(waiter(queue, 'continuing', 'was-ahead', free, granted, 0, () => ahead));
    queue.enqueue(waiter(queue, 'new_turn', 'new', free, granted));
    ahead = 0;
    free.n = 1;
    queue.pump();
    expect(granted).toEqual(['was-ahead']);
  });

  it('waitingFor counts the waiters pinned to an instance while they are queued, none once they left', () => {
    const free = { n: 0 };
    const queue = new WaitQueue({ pool: 'p', patienceMs: 1000, hasCapacity: () => free.n > 0 });
    const pinned = (klass: WaitClass, to: string | null): Waiter => ({ class: klass, since: 0, aheadMs: () => 0, pinnedTo: () => to, offer: () => false });
    const a = pinned('continuing', 'gpu-1');
    const b = pinned('http', 'gpu-1');
    queue.enqueue(a);
    queue.enqueue(b);
    queue.enqueue(pinned('new_turn', 'gpu-2'));
    queue.enqueue(pinned('new_turn', null));
    expect(queue.waitingFor('gpu-1')).toBe(2);
    expect(queue.waitingFor('gpu-2')).toBe(1);
    queue.remove(a, 'gave_up');
    queue.remove(b, 'cancelled');
    expect(queue.waitingFor('gpu-1')).toBe(0);
  });
});
