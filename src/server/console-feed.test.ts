import { describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../config.ts';
import { Metrics } from '../metrics.ts';
import { Fleet } from '../routing/fleet.ts';
import type { SessionFactory } from '../session/factory.ts';
import type { Session } from '../session/session.ts';
import { CallRegistry, ConsoleFeed, histogramQuantile, type ConsoleView } from './console-feed.ts';

describe('histogramQuantile', () => {
  const le = [0.1, 0.2, 0.5, Infinity];
  it('interpolates inside the bucket that holds the rank, as Prometheus does', () => {
    // 10 observations: 4 ≤ 0.1, 4 in (0.1, 0.2], 2 in (0.2, 0.5].
    expect(histogramQuantile(0.5, le, [4, 8, 10, 10])).toBeCloseTo(0.125, 6);
    expect(histogramQuantile(0.95, le, [4, 8, 10, 10])).toBeCloseTo(0.2 + 0.3 * 0.75, 6);
    expect(histogramQuantile(0.2, le, [4, 8, 10, 10])).toBeCloseTo(0.05, 6);
  });
  it('answers null without observations and the top finite bound for the +Inf bucket', () => {
    expect(histogramQuantile(0.5, le, [0, 0, 0, 0])).toBeNull();
    expect(histogramQuantile(0.95, le, [0, 0, 1, 10])).toBe(0.5);
  });
});

function setup(now: { t: number }) {
  const config = parseConfig({
    pools: [{ name: 'gpu', backend: 'openai', model: 'kokoro', voices: ['af_heart'], instances: [{ id: 'a', url: 'http://127.0.0.1:9/a' }, { id: 'b', url: 'http://127.0.0.1:9/b' }] }],
  });
  const metrics = new Metrics({ defaultMetrics: false });
  const fleet = new Fleet({ pools: config.pools, metrics, createBackend: () => ({ synthesize: async function* () {}, check: async () => {}, close: async () => {} }) as never });
  const live = new Set<Session>();
  const factory: SessionFactory = {
    fallback: null,
    live,
    queues: new Map(),
    saturated: () => false,
    create(request) {
      const session = { poolName: 'gpu', pinId: 'a', voice: request.voice ?? 'af_heart', stats: { segments: 2, audioMs: 1540, failovers: 1 } } as unknown as Session;
      live.add(session);
      return session;
    },
  };
  const calls = new CallRegistry(factory, () => now.t);
  const feed = new ConsoleFeed({ config, fleet, metrics, calls, now: () => now.t, windowMs: 60_000 });
  return { config, metrics, fleet, feed, calls, live };
}

describe('ConsoleFeed', () => {
  it('shows the snapshot, and TTFB quantiles and errors over the window only', async () => {
    const now = { t: 1_000_000 };
    const { metrics, feed, fleet } = setup(now);
    const sample = () => (feed as unknown as { sample(): Promise<void> }).sample();
    await sample();
    // Old traffic: slow answers and timeouts on `a`, then a minute passes.
    for (let i = 0; i < 10; i++) metrics.ttfb.observe({ pool: 'gpu', instance: 'a' }, 2.5);
    metrics.backendErrors.inc({ pool: 'gpu', instance: 'a', kind: 'timeout' }, 3);
    now.t += 1_000;
    await sample();
    now.t += 61_000;
    await sample();
    // Recent traffic: fast answers.
    for (let i = 0; i < 10; i++) metrics.ttfb.observe({ pool: 'gpu', instance: 'a' }, 0.04);
    metrics.backendErrors.inc({ pool: 'gpu', instance: 'a', kind: 'http_5xx' });
    metrics.queueDepth.set({ pool: 'gpu', class: 'new_turn' }, 3);
    metrics.segmentsGivenUp.inc({ pool: 'gpu', reason: 'max_wait' }, 2);
    now.t += 1_000;
    await sample();
    fleet.drain('b');
    const view = await feed.view();
    const [a, b] = view.pools[0].instances;
    expect(a.ttfb_p50_ms).toBeGreaterThan(25);
    expect(a.ttfb_p95_ms).toBeLessThanOrEqual(50);
    expect(a.errors).toEqual({ http_5xx: 1 });
    expect(b).toMatchObject({ id: 'b', draining: true, health: 'up', ttfb_p50_ms: null, capacity: 4 });
    expect(view.pools[0]).toMatchObject({ name: 'gpu', backend: 'openai', voices: ['af_heart'], capacity: 8, streams: 0, waiting: 3, given_up: 2 });
    expect(view.pools[0].wait_queue).toMatchObject({ new_turn: 3 });
    expect(view.events[0]).toMatchObject({ type: 'draining', instance: 'b' });
    feed.close();
  });

  it('lists live calls with their id and front end, read from the live registry', async () => {
    const now = { t: 5_000 };
    const { feed, calls, live } = setup(now);
    calls.forProtocol('native').create({ id: 'call-1', key: 'call-1', format: { encoding: 'pcm_s16le', sampleRate: 24000, frameMs: 0 }, sink: {} as never });
    now.t += 2_500;
    const view: ConsoleView = await feed.view();
    expect(view.calls).toEqual([{ session_id: 'call-1', pool: 'gpu', pin: 'a', voice: 'af_heart', protocol: 'native', audio_s: 1.5, segments: 2, failovers: 1, age_s: 2.5 }]);
    live.clear();
    expect((await feed.view()).calls).toEqual([]);
    feed.close();
  });

  it('pushes to subscribers at once on an instance event, without waiting for a tick; close ends them', async () => {
    const now = { t: 0 };
    const { feed, fleet } = setup(now);
    const views: ConsoleView[] = [];
    let ended = 0;
    feed.subscribe({ view: (v) => views.push(v), end: () => ended++ });
    await expect.poll(() => views.length).toBe(1);
    // No timer started: only the instance event can bring the next view.
    fleet.drain('a');
    await expect.poll(() => views.length).toBe(2);
    expect(views[1].pools[0].instances[0].draining).toBe(true);
    feed.close();
    expect(ended).toBe(1);
  });

  it('pushes a fresh view to subscribers every pushMs once started, and stops at close', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const now = { t: 0 };
      const { feed } = setup(now);
      const views: ConsoleView[] = [];
      feed.subscribe({ view: (v) => views.push(v), end: () => {} });
      await expect.poll(() => views.length).toBe(1);
      feed.start();
      // Nothing happens in the fleet: only the tick brings the next views.
      for (const expected of [2, 3]) {
        vi.advanceTimersByTime(500);
        await expect.poll(() => views.length).toBe(expected);
      }
      feed.close();
      vi.advanceTimersByTime(5_000);
      await new Promise((r) => setImmediate(r));
      expect(views).toHaveLength(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
