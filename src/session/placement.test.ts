import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DrivenBackend, FakeInstance, FakeRouter } from '../../test/helpers/fake-router.ts';
import { BackendError } from '../backends/backend.ts';
import { parseConfig } from '../config.ts';
import { FallbackSlots } from './fallback.ts';
import { Placement, type PlaceRequest, type Placed } from './placement.ts';
import { RetryBudget } from './retry-budget.ts';
import { WaitQueue } from './wait-queue.ts';

const TIMEOUTS = { connect_ms: 500, first_audio_ms: 800, stall_ms: 800 };

function fallbackConfig(maxConcurrency: number, voiceMap: Record<string, string> = {}) {
  return parseConfig({
    pools: [{ name: 'p', backend: 'espeak', voices: ['v'], instances: [{ id: 'x' }] }],
    fallback: { backend: 'cartesia', max_concurrency: maxConcurrency, voice_map: voiceMap },
  }).fallback!;
}

function rig(options: { instances?: number[]; fallback?: number; queueMs?: number; maxWaitMs?: number; returnAfterSpill?: boolean; budget?: RetryBudget; voiceMap?: Record<string, string> } = {}) {
  const backend = new DrivenBackend();
  const instances = (options.instances ?? [1, 1]).map((cap, i) => new FakeInstance(`gpu-${i + 1}`, cap, backend));
  const router = new FakeRouter(instances);
  const fallback = options.fallback === undefined ? null : new FallbackSlots(new DrivenBackend(), fallbackConfig(options.fallback, options.voiceMap));
  const queue = new WaitQueue({ pool: 'pool', patienceMs: 1500, hasCapacity: () => router.hasFreeSlot() || (fallback?.free ?? 0) > 0 });
  router.onCapacity(() => queue.pump());
  fallback?.onRelease(() => queue.pump());
  const repins: (string | null)[] = [];
  const placement = (key: string) =>
    new Placement(
      {
        key,
        router,
        queue,
        fallback,
        retryBudget: options.budget ?? null,
        timeouts: TIMEOUTS,
        voice: 'af_heart',
        queueMs: options.queueMs ?? 250,
        maxWaitMs: options.maxWaitMs ?? 10_000,
        waitingNoticeMs: 800,
        returnAfterSpill: options.returnAfterSpill ?? true,
        onRepin: (to) => repins.push(to?.id ?? null),
      },
      router.pin(key),
    );
  return { router, instances, fallback, queue, placement, repins };
}

function first(signal = new AbortController().signal, extra: Partial<PlaceRequest> = {}): PlaceRequest {
  return { klass: 'new_turn', signal, excluded: new Set(), failure: null, ...extra };
}

function granted(result: Placed | string): Placed {
  if (typeof result === 'string') throw new Error(`not placed: ${result}`);
  return result;
}

describe('Placement', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('takes the pin when it has a slot: no move', async () => {
    const { placement } = rig();
    const p = placement('call-1');
    const placed = granted(await p.place(first()));
    expect(placed.grant.provider).toBe('gpu-1');
    expect(placed.move).toBeNull();
    placed.grant.release();
  });

  it('waits queue_ms for a full pin, then spills to a candidate as overflow and returns to the pin after (return_after_spill)', async () => {
    const { placement, instances, repins } = rig();
    const a = granted(await placement('a').place(first()));
    const b = placement('b');
    let result: Placed | string | null = null;
    void b.place(first()).then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(200);
    expect(result).toBeNull(); // still waiting for its pin
    await vi.advanceTimersByTimeAsync(60);
    const spilled = granted(result!);
    expect(spilled.grant.provider).toBe('gpu-2');
    expect(spilled.move).toEqual({ from: 'gpu-1', reason: 'overflow' });
    expect(b.pinId).toBe('gpu-1');
    expect(repins).toEqual([]);
    spilled.grant.release();
    a.grant.release();
    expect(instances.map((i) => i.streams)).toEqual([0, 0]);
  });

  it('a pin full at a learned adaptive limit below its cap is not waited for: the segment spills at once', async () => {
    const { placement, instances, repins } = rig({ instances: [4, 4] });
    instances[0]!.learnedLimit = 1;
    const a = granted(await placement('a').place(first()));
    expect(a.grant.provider).toBe('gpu-1');
    let result: Placed | string | null = null;
    void placement('b').place(first()).then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(0);
    const spilled = granted(result!);
    expect(spilled.grant.provider).toBe('gpu-2');
    expect(spilled.move).toEqual({ from: 'gpu-1', reason: 'overflow' });
    expect(repins).toEqual([]);
    // A learned limit that reached the cap is the fixed case: queue_ms is waited for the pin.
    instances[0]!.learnedLimit = 4;
    const held = await Promise.all([1, 2, 3].map(() => placement('a').place(first())));
    let third: Placed | string | null = null;
    void placement('c').place(first()).then((r) => (third = r));
    await vi.advanceTimersByTimeAsync(200);
    expect(third).toBeNull();
    await vi.advanceTimersByTimeAsync(60);
    expect(granted(third!).grant.provider).toBe('gpu-2');
    for (const h of [a, spilled, granted(third!), ...held.map(granted)]) h.grant.release();
  });

  it('a slot freed on the pin during queue_ms goes to the waiter at once', async () => {
    const { placement } = rig();
    const a = granted(await placement('a').place(first()));
    let result: Placed | string | null = null;
    void placement('b').place(first()).then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(50);
    a.grant.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(granted(result!).grant.provider).toBe('gpu-1');
    expect(granted(result!).move).toBeNull();
  });

  it('return_after_spill false: a spill moves the session', async () => {
    const { placement, repins } = rig({ returnAfterSpill: false });
    granted(await placement('a').place(first()));
    const b = placement('b');
    const pending = b.place(first());
    await vi.advanceTimersByTimeAsync(300);
    expect(granted(await pending).grant.provider).toBe('gpu-2');
    expect(b.pinId).toBe('gpu-2');
    expect(repins).toEqual(['gpu-2']);
  });

  it('a pin that is down moves the session (unhealthy); an ejected one says ejected', async () => {
    const { placement, instances } = rig({ instances: [2, 2] });
    const a = placement('a');
    instances[0]!.healthy = false;
    const moved = granted(await a.place(first()));
    expect(moved.grant.provider).toBe('gpu-2');
    expect(moved.move).toEqual({ from: 'gpu-1', reason: 'unhealthy' });
    expect(a.pinId).toBe('gpu-2');
    instances[1]!.healthy = false;
    instances[1]!.ejected = true;
    instances[0]!.healthy = true;
    expect(granted(await a.place(first())).move).toEqual({ from: 'gpu-2', reason: 'ejected' });
  });

  it('after a failure: the next candidate, budget permitting; else the fallback (the failure reason travels)', async () => {
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 0, now: () => Date.now() });
    const { placement } = rig({ instances: [2, 2], fallback: 1, budget });
    const p = placement('a');
    const retry = granted(await p.place(first(undefined, { excluded: new Set(['gpu-1']), failure: { from: 'gpu-1', reason: 'timeout' } })));
    // The budget allows no retry on the fleet: the fallback (free of the budget) takes it.
    expect(retry.grant.provider).toBe('cartesia');
    expect(retry.move).toEqual({ from: 'gpu-1', reason: 'timeout' });
    expect(p.pinId).toBe('cartesia');
  });

  it('the fallback maps the voice once: voice_map, then default', async () => {
    const { placement, instances } = rig({ instances: [1], fallback: 2, voiceMap: { af_heart: 'uuid-heart', default: 'uuid-default' } });
    instances[0]!.healthy = false;
    const placed = granted(await placement('a').place(first()));
    expect(placed.grant.provider).toBe('cartesia');
    expect(placed.grant.voice).toBe('uuid-heart');
  });

  it('a session living on the fallback returns to the fleet when the fallback is full (restored)', async () => {
    const { placement, instances, fallback } = rig({ instances: [1], fallback: 1 });
    instances[0]!.healthy = false;
    const p = placement('a');
    const onFallback = granted(await p.place(first()));
    expect(p.pinId).toBe('cartesia');
    instances[0]!.healthy = true;
    const back = granted(await p.place(first()));
    expect(back.grant.provider).toBe('gpu-1');
    expect(back.move).toEqual({ from: 'cartesia', reason: 'restored' });
    onFallback.grant.release();
    expect(fallback!.inUse).toBe(0);
  });

  it('nothing free anywhere: waits in the pool queue for the first slot freed anywhere, including the fallback', async () => {
    const { placement, fallback } = rig({ instances: [1, 1], fallback: 1 });
    const a = granted(await placement('a').place(first()));
    const pendingB = placement('b').place(first());
    await vi.advanceTimersByTimeAsync(300); // b's pin (gpu-1) is full: after queue_ms it spills to gpu-2
    const held = [a, granted(await pendingB)];
    expect(held[1]!.grant.provider).toBe('gpu-2');
    const onFallback = granted(await placement('c').place({ ...first(), failure: { from: 'gpu-1', reason: 'timeout' }, excluded: new Set(['gpu-1', 'gpu-2']) }));
    expect(onFallback.grant.provider).toBe('cartesia');
    let result: Placed | string | null = null;
    const notices: number[] = [];
    void placement('d').place({ ...first(), onWaiting: (pos) => notices.push(pos) }).then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(900);
    expect(result).toBeNull();
    expect(notices).toEqual([1]); // told once, past first_audio_ms
    onFallback.grant.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(granted(result!).grant.provider).toBe('cartesia');
    expect(fallback!.inUse).toBe(1);
    for (const h of held) h.grant.release();
  });

  it('gives up after max_wait_ms (saturated); cancel while waiting removes the waiter at once', async () => {
    const { placement, queue } = rig({ instances: [1], maxWaitMs: 1000 });
    const held = granted(await placement('a').place(first()));
    const late = placement('b').place(first());
    await vi.advanceTimersByTimeAsync(1000);
    expect(await late).toBe('saturated');
    const controller = new AbortController();
    const cancelled = placement('c').place(first(controller.signal));
    await vi.advanceTimersByTimeAsync(10);
    expect(queue.size).toBe(1);
    controller.abort(new Error('barge-in'));
    await expect(cancelled).rejects.toThrow('barge-in');
    expect(queue.size).toBe(0);
    held.grant.release();
  });

  it('no provider left at all (every one failed the segment, no fallback): no_provider at once, no wait', async () => {
    const { placement } = rig({ instances: [1, 1] });
    const result = await placement('a').place({ ...first(), failure: { from: 'gpu-2', reason: 'connect' }, excluded: new Set(['gpu-1', 'gpu-2']) });
    expect(result).toBe('no_provider');
  });

  it('a server that says it is full cools down (Retry-After, capped) and is not reported as failing', async () => {
    const { placement, router } = rig();
    const p = placement('a');
    const placed = granted(await p.place(first()));
    p.report(placed.grant, new BackendError('http_5xx', 'full', 503, { retryAfterMs: 2000 }));
    p.report(placed.grant, new BackendError('http_429', 'slow down', 429, { retryAfterMs: 600_000 }));
    p.report(placed.grant, new BackendError('http_5xx', 'boom', 500));
    expect(router.cooled).toEqual([
      { id: 'gpu-1', ms: 2000 },
      { id: 'gpu-1', ms: 5000 },
    ]);
    expect(router.failures).toEqual([{ id: 'gpu-1', kind: 'http_5xx' }]);
    placed.grant.release();
  });

  it('close releases the pin once', () => {
    const { placement, router } = rig();
    const p = placement('a');
    expect(router.pins.get('a')?.id).toBe('gpu-1');
    p.close();
    p.close();
    expect(router.pins.has('a')).toBe(false);
    expect(router.instances[0]!.sessions).toBe(0);
  });
});
