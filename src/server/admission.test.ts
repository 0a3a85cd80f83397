import { describe, expect, it } from 'vitest';
import { Admission } from './admission.ts';

function admission(maxSessions: number, refuseWhenLagging: boolean) {
  const state = { live: 0, lagging: false };
  const a = new Admission({ maxSessions, refuseWhenLagging, liveSessions: () => state.live, lagging: () => state.lagging });
  return { a, state };
}

describe('Admission', () => {
  it('takes sessions up to max_sessions, then refuses at_capacity until one ends', () => {
    const { a, state } = admission(2, false);
    state.live = 1;
    expect(a.check()).toBeNull();
    expect(a.full).toBe(false);
    state.live = 2;
    expect(a.check()).toMatchObject({ code: 'at_capacity' });
    expect(a.check()!.message).toMatch(/2 sessions/);
    expect(a.full).toBe(true);
    state.live = 1;
    expect(a.check()).toBeNull();
  });

  it('has no limit at max_sessions 0', () => {
    const { a, state } = admission(0, false);
    state.live = 1_000_000;
    expect(a.check()).toBeNull();
    expect(a.full).toBe(false);
  });

  it('refuses overloaded while lagging only when asked to', () => {
    const shedding = admission(0, true);
    const plain = admission(0, false);
    shedding.state.lagging = plain.state.lagging = true;
    expect(shedding.a.check()).toMatchObject({ code: 'overloaded' });
    expect(plain.a.check()).toBeNull();
    shedding.state.lagging = false;
    expect(shedding.a.check()).toBeNull();
  });

  it('refuses everything while draining, before any other reason', () => {
    const { a, state } = admission(1, true);
    state.live = 5;
    state.lagging = true;
    a.draining = true;
    expect(a.check()).toMatchObject({ code: 'shutting_down' });
  });

  it('an upgraded socket holds a place until start or close; at start it does not count itself', () => {
    const { a, state } = admission(2, false);
    a.holdPlace();
    a.holdPlace();
    expect(a.waitingForStart).toBe(2);
    expect(a.full).toBe(true);
    expect(a.check()).toMatchObject({ code: 'at_capacity' }); // a third upgrade
    expect(a.check(true)).toBeNull(); // one of the two sends start
    state.live = 1;
    a.releasePlace();
    expect(a.check()).toMatchObject({ code: 'at_capacity' });
    a.releasePlace(); // the other closes without start
    expect(a.check()).toBeNull();
    a.releasePlace(); // never below zero
    expect(a.waitingForStart).toBe(0);
  });
});
