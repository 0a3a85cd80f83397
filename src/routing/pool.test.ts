import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Metrics } from '../metrics.ts';
import type { InstanceEvent } from './events.ts';
import { Pool } from './pool.ts';
import type { Instance, Slot } from './router.ts';
import { FakeBackend, testPoolConfig } from '../../test/helpers/routing.ts';
import type { TestPoolSpec } from '../../test/helpers/routing.ts';

function makePool(spec: TestPoolSpec = {}, extra: { metrics?: Metrics } = {}) {
  const backends = new Map<string, FakeBackend>();
  const events: InstanceEvent[] = [];
  const pool = new Pool({
    config: testPoolConfig(spec),
    createBackend: (_pool, inst) => {
      const b = new FakeBackend();
      backends.set(inst.id, b);
      return b;
    },
    onEvent: (e) => events.push(e),
    metrics: extra.metrics,
  });
  return { pool, backends, events, byId: (id: string) => pool.instance(id)! };
}

const cap = (pool: Pool, inst: Instance, sessionsAfter: number, eps = testPoolConfig().load_epsilon): number => {
  const w = pool.instances.filter((i) => i.healthy && !i.draining).reduce((s, i) => s + i.weight, 0);
  return Math.ceil(((1 + eps) * sessionsAfter * inst.weight) / w - 1e-9);
};

const total = (pool: Pool) => pool.instances.reduce((s, i) => s + i.sessions, 0);

afterEach(() => {
  vi.useRealTimers();
});

describe('Pool pinning', () => {
  it('pins to the first candidate of an idle pool and counts the session', () => {
    const { pool } = makePool();
    const inst = pool.pin('CA1')!;
    expect(inst.id).toBe(pool.candidates('CA1')[0].id);
    expect(inst.sessions).toBe(1);
    pool.release('CA1', inst);
    expect(inst.sessions).toBe(0);
  });

  it('the same session reconnecting gets the same instance, live or after release', () => {
    const { pool } = makePool({ instances: 8 });
    for (let i = 0; i < 50; i++) pool.pin(`other-${i}`);
    const first = pool.pin('CA-reconnect')!;
    const second = pool.pin('CA-reconnect')!; // a second connection while the first lives
    expect(second).toBe(first);
    expect(pool.instance(first.id)!.connectionsOf('CA-reconnect')).toBe(2);
    const sessions = first.sessions; // the session counts once
    pool.release('CA-reconnect', second);
    expect(first.sessions).toBe(sessions);
    pool.release('CA-reconnect', first);
    expect(first.sessions).toBe(sessions - 1);
    expect(pool.pin('CA-reconnect')).toBe(first);
  });

  it('a second pool built from the same config computes the same pins', () => {
    const a = makePool({ instances: 6 }).pool;
    const b = makePool({ instances: 6 }).pool;
    for (let i = 0; i < 300; i++) expect(b.pin(`k${i}`)!.id).toBe(a.pin(`k${i}`)!.id);
  });

  it("a session whose first choice is full takes the next instance in its own order", () => {
    const { pool } = makePool({ instances: 4, load_epsilon: 0 });
    // ε = 0 and 4 sessions: cap 1 each, so the 4 keys spread one per instance in order.
    const order = pool.candidates('target').map((i) => i.id);
    // Fill the target's first choice with other keys pinned there first.
    let n = 0;
    while (pool.instance(order[0])!.sessions === 0) {
      const k = `filler-${n++}`;
      const inst = pool.pin(k)!;
      if (inst.id !== order[0]) pool.release(k, inst);
    }
    expect(pool.pin('target')!.id).toBe(order[1]);
  });

  it('never exceeds the bounded-load session cap or max_concurrency (random operations)', () => {
    type Op =
      | { t: 'admit'; key: string }
      | { t: 'release'; pick: number }
      | { t: 'acquire'; pick: number }
      | { t: 'free'; pick: number }
      | { t: 'drain'; pick: number; on: boolean }
      | { t: 'fail'; pick: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ t: fc.constant('admit' as const), key: fc.string({ minLength: 1, maxLength: 12 }) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('release' as const), pick: fc.nat() }) },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('acquire' as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('free' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('drain' as const), pick: fc.nat(), on: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('fail' as const), pick: fc.nat() }) },
    );
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(0, 0.1, 0.25, 1),
        fc.array(op, { maxLength: 300 }),
        (weights, eps, ops) => {
          const { pool } = makePool({ weights, load_epsilon: eps, maxConcurrency: 2, health: { eject_after: 2 } });
          const live: { key: string; inst: Instance }[] = [];
          const slots: Slot[] = [];
          for (const o of ops) {
            if (o.t === 'admit') {
              const order = pool.candidates(o.key);
              const inst = pool.pin(o.key);
              if (!inst) {
                expect(order).toEqual([]); // null only when nothing is available
                continue;
              }
              live.push({ key: o.key, inst });
              expect(inst.healthy && !inst.draining).toBe(true);
              const m = total(pool);
              expect(inst.sessions).toBeLessThanOrEqual(cap(pool, inst, m, eps));
              // A new session: everything ahead of it in its own order was full. (A second
              // connection of a live session joins its pin instead.)
              if (pool.instance(inst.id)!.connectionsOf(o.key) > 1) continue;
              for (const before of order) {
                if (before === inst) break;
                expect(before.sessions).toBeGreaterThanOrEqual(cap(pool, before, m, eps));
              }
            } else if (o.t === 'release' && live.length > 0) {
              const [s] = live.splice(o.pick % live.length, 1);
              pool.release(s.key, s.inst);
            } else if (o.t === 'acquire') {
              const inst = pool.instances[o.pick % pool.instances.length];
              const slot = pool.tryAcquire(inst);
              if (slot) {
                expect(inst.healthy).toBe(true);
                slots.push(slot);
              } else {
                expect(!inst.healthy || inst.streams === inst.maxConcurrency).toBe(true);
              }
            } else if (o.t === 'free' && slots.length > 0) {
              slots.splice(o.pick % slots.length, 1)[0].release();
            } else if (o.t === 'drain') {
              pool.setDraining(pool.instances[o.pick % pool.instances.length].id, o.on);
            } else if (o.t === 'fail') {
              pool.reportFailure(pool.instances[o.pick % pool.instances.length], 'http_5xx');
            }
            for (const inst of pool.instances) {
              expect(inst.streams).toBeLessThanOrEqual(inst.maxConcurrency);
              expect(inst.streams).toBeGreaterThanOrEqual(0);
            }
            expect(total(pool)).toBe(new Set(live.map((s) => `${s.inst.id}\u0000${s.key}`)).size);
          }
          pool.stop();
        },
      ),
      { numRuns: 150 },
    );
  });

  it('peak-to-mean stays within 1 + ε while sessions are admitted', () => {
    const { pool } = makePool({ instances: 10, load_epsilon: 0.25 });
    for (let i = 0; i < 5000; i++) pool.pin(`call-${i}`);
    const max = Math.max(...pool.instances.map((i) => i.sessions));
    expect(max).toBeLessThanOrEqual(Math.ceil(1.25 * 500));
  });

  it('an unhealthy instance is never pinned nor offered as a candidate', () => {
    const { pool, byId } = makePool({ instances: 4, health: { eject_after: 1 } });
    pool.reportFailure(byId('gpu-2'), 'connect');
    expect(byId('gpu-2').healthy).toBe(false);
    for (let i = 0; i < 1000; i++) {
      expect(pool.pin(`k${i}`)!.id).not.toBe('gpu-2');
      expect(pool.candidates(`k${i}`).map((c) => c.id)).not.toContain('gpu-2');
    }
  });

  it('an instance going down moves only its own sessions in the failover order', () => {
    const { pool, byId } = makePool({ instances: 8, health: { eject_after: 1 } });
    const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`);
    const before = keys.map((k) => pool.candidates(k, undefined, 1)[0].id);
    pool.reportFailure(byId('gpu-5'), 'connect');
    const after = keys.map((k) => pool.candidates(k, undefined, 1)[0].id);
    let moved = 0;
    keys.forEach((_, i) => {
      if (before[i] === 'gpu-5') moved++;
      else expect(after[i]).toBe(before[i]);
    });
    expect(moved).toBeGreaterThan(0);
  });

  it('candidates honour exclude and limit', () => {
    const { pool } = makePool({ instances: 5 });
    const all = pool.candidates('k').map((i) => i.id);
    expect(all).toHaveLength(5);
    expect(pool.candidates('k', new Set([all[0]])).map((i) => i.id)).toEqual(all.slice(1));
    expect(pool.candidates('k', undefined, 2).map((i) => i.id)).toEqual(all.slice(0, 2));
    expect(pool.candidates('k', undefined, 0)).toEqual([]);
  });

  it('repin moves the count between instances', () => {
    const { pool } = makePool();
    const from = pool.pin('s')!;
    const to = pool.candidates('s', new Set([from.id]))[0];
    pool.repin('s', from, to);
    expect([from.sessions, to.sessions]).toEqual([0, 1]);
    pool.release('s', to);
    expect(to.sessions).toBe(0);
  });
});

describe('Pool drain', () => {
  it('a draining instance takes no new sessions; live ones carry on', () => {
    const { pool, byId, events } = makePool({ instances: 3 });
    const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
    const pinned = keys.map((k) => pool.pin(k)!);
    const victim = byId('gpu-1');
    const liveThere = victim.sessions;
    expect(liveThere).toBeGreaterThan(0);
    expect(pool.setDraining('gpu-1', true)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'draining', instance: 'gpu-1', healthy: true });
    for (let i = 0; i < 200; i++) expect(pool.pin(`new-${i}`)!.id).not.toBe('gpu-1');
    expect(victim.sessions).toBe(liveThere);
    expect(pool.tryAcquire(victim)).not.toBeNull(); // pinned sessions still synthesize there
    keys.forEach((k, i) => pool.release(k, pinned[i]));
    expect(victim.sessions).toBe(0);
    pool.setDraining('gpu-1', false);
    expect(events.at(-1)?.type).toBe('undrained');
    expect(pool.setDraining('nope', true)).toBe(false);
  });
});

describe('Pool stream slots', () => {
  it('tryAcquire takes slots up to the limit; a release is idempotent, frees one slot and wakes capacity listeners', () => {
    const { pool, byId } = makePool({ maxConcurrency: 2 });
    const inst = byId('gpu-0');
    let woken = 0;
    pool.onCapacity(() => woken++);
    const a = pool.tryAcquire(inst)!;
    const b = pool.tryAcquire(inst)!;
    expect(a.inFlightAtStart).toBe(1);
    expect(b.inFlightAtStart).toBe(2);
    expect(pool.tryAcquire(inst)).toBeNull();
    expect(inst.streams).toBe(2);
    a.release();
    a.release(); // idempotent: must not free a second slot
    expect(inst.streams).toBe(1);
    expect(woken).toBe(1);
    expect(pool.tryAcquire(inst)).not.toBeNull();
    expect(pool.tryAcquire(inst)).toBeNull();
    b.release();
    expect(pool.hasFreeSlot()).toBe(true);
  });

  it('no slot on an ejected or cooling instance; the end of a cool-down wakes capacity listeners', async () => {
    vi.useFakeTimers();
    const { pool, byId } = makePool({ instances: 2, maxConcurrency: 1, health: { eject_after: 1 } });
    const [gpu0, gpu1] = [byId('gpu-0'), byId('gpu-1')];
    let woken = 0;
    pool.onCapacity(() => woken++);
    pool.reportFailure(gpu0, 'http_5xx');
    expect(pool.tryAcquire(gpu0)).toBeNull();
    pool.coolDown(gpu1, 300);
    expect(pool.tryAcquire(gpu1)).toBeNull();
    expect(pool.hasFreeSlot()).toBe(false);
    await vi.advanceTimersByTimeAsync(299);
    expect(woken).toBe(0);
    await vi.advanceTimersByTimeAsync(2);
    expect(woken).toBe(1);
    expect(pool.tryAcquire(gpu1)).not.toBeNull();
    pool.stop();
  });
});

describe('Pool health', () => {
  const health = { interval_ms: 1000, timeout_ms: 800, rise: 2, fall: 2, eject_after: 3, eject_base_ms: 5000, eject_max_ms: 20_000 };

  it.each([
    ['refused', 'fail', 0],
    ['hanging', 'hang', 0],
    ['hanging', 'hang', 999],
    ['refused', 'fail', 500],
  ] as const)('finds a %s instance down within interval·fall + timeout (died %d ms after a probe)', async (_label, mode, offset) => {
    vi.useFakeTimers();
    const { pool, backends, events } = makePool({ instances: 2, health });
    pool.startHealthChecks();
    await vi.advanceTimersByTimeAsync(3000 + offset); // probes at 0, 1000, 2000, 3000 pass
    backends.get('gpu-1')!.mode = mode;
    const died = Date.now();
    let found = -1;
    for (let t = 0; t <= 6000 && found < 0; t += 10) {
      await vi.advanceTimersByTimeAsync(10);
      if (events.some((e) => e.type === 'down' && e.instance === 'gpu-1')) found = Date.now() - died;
    }
    expect(found).toBeGreaterThan(0);
    expect(found).toBeLessThanOrEqual(health.interval_ms * health.fall + health.timeout_ms);
    // Refused connections fail at once: the defaults' "within 2 s".
    if (mode === 'fail') expect(found).toBeLessThanOrEqual(health.interval_ms * health.fall);
    expect(pool.instance('gpu-1')!.healthy).toBe(false);
    expect(pool.instance('gpu-0')!.healthy).toBe(true);
    pool.stop();
  });

  it('starts up (optimistic) and rise passes bring a down instance back', async () => {
    vi.useFakeTimers();
    const { pool, backends, events, byId } = makePool({ instances: 2, health });
    backends.get('gpu-0')!.mode = 'fail';
    expect(byId('gpu-0').healthy).toBe(true); // serves at once, before any probe
    pool.startHealthChecks();
    await vi.advanceTimersByTimeAsync(1500); // probes at 0 and 1000 fail: fall = 2
    expect(byId('gpu-0').healthy).toBe(false);
    backends.get('gpu-0')!.mode = 'ok';
    await vi.advanceTimersByTimeAsync(1000); // one pass: not yet
    expect(byId('gpu-0').healthy).toBe(false);
    await vi.advanceTimersByTimeAsync(1000); // rise = 2
    expect(byId('gpu-0').healthy).toBe(true);
    expect(events.filter((e) => e.instance === 'gpu-0').map((e) => e.type)).toEqual(['down', 'up']);
    pool.stop();
  });

  it('passive ejection: eject_after failures eject; time doubles on repeat up to the max; a passing half-open probe restores', async () => {
    vi.useFakeTimers();
    const { pool, events, byId } = makePool({ instances: 2, health });
    pool.startHealthChecks();
    const inst = byId('gpu-1');
    const durations: number[] = [];
    for (let round = 0; round < 4; round++) {
      pool.reportFailure(inst, 'http_5xx');
      pool.reportSuccess(inst); // a success resets the count: these two do not eject
      pool.reportFailure(inst, 'http_5xx');
      pool.reportFailure(inst, 'aborted'); // our cancel: not the instance's fault
      pool.reportFailure(inst, 'http_5xx');
      expect(inst.healthy).toBe(true);
      pool.reportFailure(inst, 'timeout');
      expect(inst.healthy).toBe(false);
      const ejected = events.at(-1)!;
      expect(ejected).toMatchObject({ type: 'ejected', instance: 'gpu-1', reason: 'timeout' });
      durations.push(ejected.durationMs!);
      await vi.advanceTimersByTimeAsync(ejected.durationMs! - 10);
      expect(inst.healthy).toBe(false); // passing probes do not cut an ejection short
      await vi.advanceTimersByTimeAsync(20);
      expect(inst.healthy).toBe(true);
      expect(events.at(-1)?.type).toBe('restored');
    }
    expect(durations).toEqual([5000, 10_000, 20_000, 20_000]);
    pool.stop();
  });

  it('an ejection ends only when the half-open probe synthesizes; a failed probe reopens it for longer', async () => {
    vi.useFakeTimers();
    const { pool, backends, events, byId } = makePool({ instances: 2, health: { ...health, fall: 100 } });
    pool.startHealthChecks();
    const inst = byId('gpu-1');
    const backend = backends.get('gpu-1')!;
    for (let i = 0; i < 3; i++) pool.reportFailure(inst, 'connect');
    backend.synthMode = 'fail';
    await vi.advanceTimersByTimeAsync(5100);
    expect(inst.healthy).toBe(false); // health checks pass, but the probe could not synthesize
    expect(backend.syntheses).toBe(1);
    expect(events.at(-1)).toMatchObject({ type: 'ejected', reason: 'half-open probe failed', durationMs: 10_000 });
    backend.synthMode = 'ok';
    await vi.advanceTimersByTimeAsync(9800);
    expect(inst.healthy).toBe(false);
    await vi.advanceTimersByTimeAsync(300);
    expect(inst.healthy).toBe(true);
    expect(events.at(-1)?.type).toBe('restored');
    await vi.advanceTimersByTimeAsync(health.eject_max_ms);
    for (let i = 0; i < 3; i++) pool.reportFailure(inst, 'connect');
    expect(pool.snapshot()[1]).toMatchObject({ health: 'ejected', ejected_for_ms: 5000 });
    pool.stop();
  });

  it('does not hold timeouts against an instance while the gateway itself is overloaded', () => {
    let overloaded = true;
    const pool = new Pool({ config: testPoolConfig({ instances: 2 }), createBackend: () => new FakeBackend(), overloaded: () => overloaded });
    const inst = pool.instance('gpu-0')!;
    for (let i = 0; i < 5; i++) pool.reportFailure(inst, 'timeout');
    expect(inst.healthy).toBe(true);
    for (let i = 0; i < 3; i++) pool.reportFailure(inst, 'http_5xx'); // not our fault: counts
    expect(inst.healthy).toBe(false);
    overloaded = false;
    const other = pool.instance('gpu-1')!;
    for (let i = 0; i < 3; i++) pool.reportFailure(other, 'timeout');
    expect(other.healthy).toBe(false);
    pool.stop();
  });

  it('a hanging half-open probe counts as failed after first_audio_ms', async () => {
    vi.useFakeTimers();
    const { pool, backends, events, byId } = makePool({ instances: 2, health: { ...health, fall: 100 } });
    pool.startHealthChecks();
    const inst = byId('gpu-1');
    backends.get('gpu-1')!.synthMode = 'hang';
    for (let i = 0; i < 3; i++) pool.reportFailure(inst, 'timeout');
    await vi.advanceTimersByTimeAsync(5000 + 1600);
    expect(inst.healthy).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'ejected', reason: 'half-open probe failed' });
    pool.stop();
  });


  it('keeps the instance gauges current', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const { pool, byId } = makePool({ instances: 2, maxConcurrency: 3, health: { eject_after: 1 } }, { metrics });
    const inst = pool.pin('s')!;
    const slot = pool.tryAcquire(inst)!;
    pool.setDraining('gpu-0', true);
    pool.reportFailure(byId('gpu-1'), 'connect');
    const text = await metrics.render();
    const line = (name: string, id: string) => text.split('\n').find((l) => l.startsWith(`voicegate_${name}{pool="p",instance="${id}"}`));
    expect(line('instance_capacity', inst.id)).toMatch(/ 3$/);
    expect(line('instance_sessions', inst.id)).toMatch(/ 1$/);
    expect(line('instance_active_streams', inst.id)).toMatch(/ 1$/);
    expect(line('instance_draining', 'gpu-0')).toMatch(/ 1$/);
    expect(line('instance_up', 'gpu-1')).toMatch(/ 0$/);
    expect(line('instance_up', 'gpu-0')).toMatch(/ 1$/);
    slot.release();
    expect(await metrics.render()).toContain(`voicegate_instance_active_streams{pool="p",instance="${inst.id}"} 0`);
    pool.stop();
  });
});
