import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackendError } from '../backends/backend.ts';
import { FakeBackend, testPoolConfig } from '../../test/helpers/routing.ts';
import { InstanceHealth, probeSynthesis, type HealthTransition } from './instance-health.ts';

const HEALTH = { interval_ms: 1000, timeout_ms: 800, rise: 2, fall: 2, eject_after: 3, eject_base_ms: 5000, eject_max_ms: 20_000 };

/** An InstanceHealth over a scripted check and probe, recording its transitions. */
function setup(options: { overloaded?: () => boolean } = {}) {
  const script = { check: 'ok' as 'ok' | 'fail', probe: true };
  const transitions: HealthTransition[] = [];
  let probes = 0;
  const health = new InstanceHealth({
    health: testPoolConfig({ health: HEALTH }).health,
    check: () => (script.check === 'ok' ? Promise.resolve() : Promise.reject(new BackendError('connect', 'refused'))),
    probe: async () => {
      probes++;
      return script.probe;
    },
    onTransition: (t) => transitions.push(t),
    overloaded: options.overloaded,
  });
  return { health, script, transitions, probes: () => probes };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('InstanceHealth', () => {
  it('starts up; fall failed checks take it down, rise passes bring it up, each once', async () => {
    vi.useFakeTimers();
    const { health, script, transitions } = setup();
    expect(health.healthy).toBe(true);
    script.check = 'fail';
    health.startChecks(); // probes at 0, 1000, …
    await vi.advanceTimersByTimeAsync(10);
    expect(health.up).toBe(true); // one failure: not yet (fall = 2)
    await vi.advanceTimersByTimeAsync(1000);
    expect(health.up).toBe(false);
    expect(transitions).toEqual([{ type: 'down', reason: 'refused' }]);
    await vi.advanceTimersByTimeAsync(3000); // still failing: no second 'down'
    script.check = 'ok';
    await vi.advanceTimersByTimeAsync(1000);
    expect(health.up).toBe(false); // one pass: not yet (rise = 2)
    await vi.advanceTimersByTimeAsync(1000);
    expect(health.healthy).toBe(true);
    expect(transitions.map((t) => t.type)).toEqual(['down', 'up']);
    health.stop();
  });

  it('ejects after eject_after consecutive failures; a success resets the count; our own aborts and 4xx do not count', () => {
    const { health, transitions } = setup();
    health.failure('http_5xx');
    health.failure('http_5xx');
    health.success();
    health.failure('http_5xx');
    health.failure('aborted');
    health.failure('http_4xx');
    health.failure('timeout');
    expect(health.ejected).toBe(false);
    health.failure('connect');
    expect(health.ejected).toBe(true);
    expect(health.healthy).toBe(false);
    expect(transitions).toEqual([{ type: 'ejected', reason: 'connect', durationMs: 5000 }]);
    health.stop();
  });

  it('does not hold timeouts against the instance while the gateway is overloaded', () => {
    let overloaded = true;
    const { health } = setup({ overloaded: () => overloaded });
    for (let i = 0; i < 5; i++) health.failure('timeout');
    expect(health.ejected).toBe(false);
    overloaded = false;
    for (let i = 0; i < 3; i++) health.failure('timeout');
    expect(health.ejected).toBe(true);
    health.stop();
  });

  it('at expiry the half-open probe decides: a pass restores, a failure reopens for double the time', async () => {
    vi.useFakeTimers();
    const { health, script, transitions, probes } = setup();
    for (let i = 0; i < 3; i++) health.failure('http_5xx');
    script.probe = false;
    await vi.advanceTimersByTimeAsync(4999);
    expect(probes()).toBe(0); // no probe before the time is over
    await vi.advanceTimersByTimeAsync(1);
    expect(probes()).toBe(1);
    expect(health.ejected).toBe(true);
    expect(transitions.at(-1)).toEqual({ type: 'ejected', reason: 'half-open probe failed', durationMs: 10_000 });
    expect(health.ejectedUntil).toBe(Date.now() + 10_000);
    script.probe = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(probes()).toBe(2);
    expect(health.healthy).toBe(true);
    expect(transitions.at(-1)).toEqual({ type: 'restored' });
    // The streak goes on: the next ejection doubles again, up to eject_max_ms.
    for (let i = 0; i < 3; i++) health.failure('http_5xx');
    expect(transitions.at(-1)).toEqual({ type: 'ejected', reason: 'http_5xx', durationMs: 20_000 });
    health.stop();
  });

  it("adopts a peer's ejection for its time, without counting a failure; not twice", async () => {
    vi.useFakeTimers();
    const { health, transitions, probes } = setup();
    expect(health.adoptEjection(2000, 'peer: http_5xx')).toBe(true);
    expect(health.adoptEjection(2000, 'peer: http_5xx')).toBe(false);
    expect(transitions).toEqual([{ type: 'ejected', reason: 'peer: http_5xx', durationMs: 2000 }]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(probes()).toBe(1);
    expect(health.healthy).toBe(true);
    health.stop();
  });

  it('after stop: no checks, no probe, no transition', async () => {
    vi.useFakeTimers();
    const { health, script, transitions, probes } = setup();
    health.startChecks();
    for (let i = 0; i < 3; i++) health.failure('http_5xx');
    health.stop();
    script.check = 'fail';
    await vi.advanceTimersByTimeAsync(30_000);
    expect(probes()).toBe(0);
    health.failure('http_5xx');
    health.checkResult(false, new Error('late'));
    expect(health.adoptEjection(1000, 'peer')).toBe(false);
    expect(transitions.map((t) => t.type)).toEqual(['ejected']);
  });
});

describe('probeSynthesis', () => {
  it('true on first audio; false on an error or no audio within the time', async () => {
    const backend = new FakeBackend();
    expect(await probeSynthesis(backend, 'v', 1000)).toBe(true);
    backend.synthMode = 'fail';
    expect(await probeSynthesis(backend, 'v', 1000)).toBe(false);
    vi.useFakeTimers();
    backend.synthMode = 'hang';
    const hanging = probeSynthesis(backend, 'v', 1500);
    await vi.advanceTimersByTimeAsync(1500);
    expect(await hanging).toBe(false);
  });
});
