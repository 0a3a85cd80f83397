import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { handleStopSignals, type SignalSource } from './signals.ts';

class FakeProcess extends EventEmitter implements SignalSource {
  ppid = 100;
}

function setup(options: { watchParent?: boolean } = {}) {
  const source = new FakeProcess();
  let clock = 0;
  const calls: string[] = [];
  const remove = handleStopSignals({
    source,
    now: () => clock,
    drain: (r) => calls.push(`drain:${r}`),
    force: (r) => calls.push(`force:${r}`),
    onDuplicate: (r) => calls.push(`dup:${r}`),
    watchParent: options.watchParent,
    parentCheckMs: 100,
  });
  return { source, calls, remove, advance: (ms: number) => (clock += ms) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('handleStopSignals', () => {
  it('one signal delivered twice (group + npm) drains once', () => {
    const { source, calls, advance } = setup();
    source.emit('SIGINT');
    advance(5);
    source.emit('SIGINT');
    advance(5);
    source.emit('SIGTERM');
    expect(calls).toEqual(['drain:SIGINT', 'dup:SIGINT', 'dup:SIGTERM']);
  });

  it('a signal after the duplicate window forces, once', () => {
    const { source, calls, advance } = setup();
    source.emit('SIGTERM');
    advance(1500);
    source.emit('SIGINT');
    source.emit('SIGINT');
    expect(calls).toEqual(['drain:SIGTERM', 'force:SIGINT']);
  });

  it('stops when re-parented (the launching npm died), and only then', () => {
    vi.useFakeTimers();
    const { source, calls } = setup({ watchParent: true });
    vi.advanceTimersByTime(1000);
    expect(calls).toEqual([]);
    source.ppid = 1;
    vi.advanceTimersByTime(100);
    expect(calls).toEqual(['drain:parent process exited']);
    // A signal right after is the same stop.
    source.emit('SIGTERM');
    expect(calls).toEqual(['drain:parent process exited', 'dup:SIGTERM']);
  });

  it('does not watch the parent unless asked', () => {
    vi.useFakeTimers();
    const { source, calls } = setup();
    source.ppid = 1;
    vi.advanceTimersByTime(5000);
    expect(calls).toEqual([]);
  });

  it('the returned function removes the handlers', () => {
    const { source, calls, remove } = setup();
    remove();
    expect(source.listenerCount('SIGTERM') + source.listenerCount('SIGINT')).toBe(0);
    source.emit('SIGTERM');
    expect(calls).toEqual([]);
  });
});
