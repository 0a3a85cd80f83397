import { afterEach, describe, expect, it, vi } from 'vitest';
import { instanceIdFromUrl, parseConfig, type DiscoveryConfig, type PoolConfig } from '../config.ts';
import { Metrics } from '../metrics.ts';
import { DnsDiscovery, addressUrl, type DiscoveryChange, type DiscoveryFailure } from './discovery.ts';
import type { InstanceEvent } from './events.ts';
import { Pool } from './pool.ts';
import { FakeBackend } from '../../test/helpers/routing.ts';

const DNS = 'tts-gpu.default.svc.cluster.local';
const PORT = 8880;
const urlOf = (addr: string) => addressUrl('http', addr, PORT);
const idOf = (addr: string) => instanceIdFromUrl(urlOf(addr));

function discoveredPoolConfig(staticUrls: string[] = []): PoolConfig {
  return parseConfig({
    pools: [
      {
        name: 'gpu',
        backend: 'openai',
        voices: ['v'],
        instances: staticUrls.map((url) => ({ url })),
        discovery: { dns: DNS, port: PORT, max_concurrency: 3 },
      },
    ],
  }).pools[0];
}

function setup(opts: { staticUrls?: string[]; metrics?: Metrics } = {}) {
  const config = discoveredPoolConfig(opts.staticUrls);
  const backends = new Map<string, FakeBackend>();
  const events: InstanceEvent[] = [];
  const pool = new Pool({
    config,
    createBackend: (_p, inst) => {
      const b = new FakeBackend();
      backends.set(inst.id, b);
      return b;
    },
    metrics: opts.metrics,
    onEvent: (e) => events.push(e),
  });
  let answer: string[] | Error = [];
  const resolve = vi.fn(async () => {
    if (answer instanceof Error) throw answer;
    return [...answer];
  });
  const discovery = new DnsDiscovery({ pool, config: config.discovery as DiscoveryConfig, resolve });
  const changes: DiscoveryChange[] = [];
  const failures: DiscoveryFailure[] = [];
  discovery.on('change', (c) => changes.push(c));
  discovery.on('failed', (f) => failures.push(f));
  return {
    pool,
    config,
    discovery,
    backends,
    events,
    changes,
    failures,
    resolve,
    answer: (a: string[] | Error) => {
      answer = a;
    },
  };
}

const KEYS = Array.from({ length: 400 }, (_, i) => `CA${i.toString(16).padStart(8, '0')}`);
/** Each key's first choice in hash order (its pin on an unloaded pool). */
const firstChoices = (pool: Pool) => new Map(KEYS.map((k) => [k, pool.candidates(k, undefined, 1)[0]?.id]));

afterEach(() => {
  vi.useRealTimers();
});

describe('config', () => {
  it('a pool may have no static instances when it has discovery, and not otherwise', () => {
    const config = discoveredPoolConfig();
    expect(config.instances).toEqual([]);
    expect(config.discovery).toEqual({ dns: DNS, port: PORT, scheme: 'http', interval_ms: 10_000, family: 'any', weight: 1, max_concurrency: 3 });
    expect(() => parseConfig({ pools: [{ name: 'x', backend: 'openai', voices: ['v'] }] })).toThrow(/at least one instance, or discovery/);
  });

  it('IPv6 addresses are bracketed in instance URLs', () => {
    expect(addressUrl('http', 'fd00::12', 8880)).toBe('http://[fd00::12]:8880');
    expect(addressUrl('https', '10.1.2.3', 443)).toBe('https://10.1.2.3:443');
  });
});

describe('DnsDiscovery', () => {
  it('addresses that appear join the ring with ids derived from their URL', async () => {
    const t = setup();
    expect(t.pool.instances).toHaveLength(0);
    expect(t.pool.pin('early')).toBeNull();
    t.answer(['10.0.0.2', '10.0.0.1']);
    const change = await t.discovery.refresh();
    expect(t.resolve).toHaveBeenCalledWith(DNS, 'any');
    expect(change?.added.map((a) => a.url)).toEqual([urlOf('10.0.0.1'), urlOf('10.0.0.2')]);
    expect(t.pool.memberIds().sort()).toEqual([idOf('10.0.0.1'), idOf('10.0.0.2')].sort());
    const inst = t.pool.instance(idOf('10.0.0.1'))!;
    expect(inst.url).toBe(urlOf('10.0.0.1'));
    expect(inst.maxConcurrency).toBe(3);
    expect(t.events.filter((e) => e.type === 'joined')).toHaveLength(2);
    expect(t.pool.pin('CA1')).not.toBeNull();
    // The same answer again changes nothing and emits nothing.
    await t.discovery.refresh();
    expect(t.changes).toHaveLength(1);
  });

  it('an address that vanishes leaves; survivors keep every first choice, its keys spread over them', async () => {
    const t = setup();
    const addrs = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];
    t.answer(addrs);
    await t.discovery.refresh();
    const before = firstChoices(t.pool);
    t.answer(['10.0.0.1', '10.0.0.2', '10.0.0.4']);
    const change = await t.discovery.refresh();
    expect(change?.removed).toEqual([{ id: idOf('10.0.0.3'), url: urlOf('10.0.0.3') }]);
    expect(t.pool.memberIds()).not.toContain(idOf('10.0.0.3'));
    expect(t.backends.get(idOf('10.0.0.3'))!.closed).toBe(true); // nothing pinned: gone at once
    const after = firstChoices(t.pool);
    let moved = 0;
    for (const key of KEYS) {
      if (before.get(key) === idOf('10.0.0.3')) {
        moved++;
        expect(after.get(key)).not.toBe(idOf('10.0.0.3'));
      } else {
        expect(after.get(key)).toBe(before.get(key));
      }
    }
    expect(moved).toBeGreaterThan(40); // ~1/4 of 400
  });

  it('an address that appears takes keys only onto itself', async () => {
    const t = setup();
    t.answer(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    await t.discovery.refresh();
    const before = firstChoices(t.pool);
    t.answer(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.9']);
    await t.discovery.refresh();
    const after = firstChoices(t.pool);
    let moved = 0;
    for (const key of KEYS) {
      if (after.get(key) !== before.get(key)) {
        moved++;
        expect(after.get(key)).toBe(idOf('10.0.0.9'));
      }
    }
    expect(moved).toBeGreaterThan(40);
    expect(moved).toBeLessThan(200);
  });

  it('a failed or timed-out resolution keeps the membership; an empty answer empties it', async () => {
    vi.useFakeTimers();
    const t = setup();
    t.answer(['10.0.0.1', '10.0.0.2']);
    await t.discovery.refresh();
    t.answer(Object.assign(new Error('queryA ETIMEOUT'), { code: 'ETIMEOUT' }));
    expect(await t.discovery.refresh()).toBeNull();
    expect(t.failures[0]?.error.message).toMatch(/ETIMEOUT/);
    expect(t.pool.memberIds()).toHaveLength(2);

    const hanging = new DnsDiscovery({ pool: t.pool, config: t.config.discovery!, resolve: () => new Promise(() => {}), timeoutMs: 500 });
    const failed: DiscoveryFailure[] = [];
    hanging.on('failed', (f) => failed.push(f));
    const result = hanging.refresh();
    await vi.advanceTimersByTimeAsync(500);
    expect(await result).toBeNull();
    expect(failed[0]?.error).toMatchObject({ code: 'discovery_timeout' });
    expect(t.pool.memberIds()).toHaveLength(2);

    t.answer([]);
    await t.discovery.refresh();
    expect(t.pool.memberIds()).toEqual([]);
    expect(t.pool.pin('x')).toBeNull();
  });

  it('re-resolves every interval_ms after start(), and stop() ends it', async () => {
    vi.useFakeTimers();
    const t = setup();
    t.answer(['10.0.0.1']);
    await t.discovery.start();
    expect(t.pool.memberIds()).toHaveLength(1);
    t.answer(['10.0.0.1', '10.0.0.2']);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(t.pool.memberIds()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.pool.memberIds()).toHaveLength(2);
    t.discovery.stop();
    t.answer(['10.0.0.3']);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(t.resolve).toHaveBeenCalledTimes(2);
    expect(t.pool.memberIds()).toHaveLength(2);
  });

  it('never touches a statically listed instance with the same URL', async () => {
    const t = setup({ staticUrls: [urlOf('10.0.0.1')] });
    t.answer(['10.0.0.1', '10.0.0.2']);
    const change = await t.discovery.refresh();
    expect(change?.added.map((a) => a.url)).toEqual([urlOf('10.0.0.2')]);
    t.answer([]);
    await t.discovery.refresh();
    expect(t.pool.memberIds()).toEqual([idOf('10.0.0.1')]);
  });
});

describe('Pool runtime membership', () => {
  it('a removed instance with pinned sessions retires: no new pins, not a candidate, its sessions carry on, then it is dropped', async () => {
    const metrics = new Metrics();
    const t = setup({ metrics });
    t.answer(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    await t.discovery.refresh();
    const leaving = idOf('10.0.0.2');
    const key = KEYS.find((k) => t.pool.candidates(k, undefined, 1)[0]!.id === leaving)!;
    const pin = t.pool.pin(key)!;
    expect(pin.id).toBe(leaving);
    const slot = t.pool.tryAcquire(pin)!;

    t.answer(['10.0.0.1', '10.0.0.3']);
    await t.discovery.refresh();
    expect(t.pool.memberIds()).not.toContain(leaving);
    // Still serving its pinned session: new segments get slots there.
    const second = t.pool.tryAcquire(pin);
    expect(second).not.toBeNull();
    second!.release();
    expect(t.pool.candidates(key).map((i) => i.id)).not.toContain(leaving);
    // A reconnect of the same session goes to a member, not to the retiring instance.
    const reconnect = t.pool.pin(key)!;
    expect(reconnect.id).not.toBe(leaving);
    t.pool.release(key, reconnect);
    const snap = t.pool.snapshot().find((s) => s.id === leaving)!;
    expect(snap).toMatchObject({ retiring: true, sessions: 1, draining: false });
    expect(await metrics.render()).toContain(`voicegate_instance_draining{pool="gpu",instance="${leaving}"} 1`);

    slot.release();
    expect(t.pool.snapshot().some((s) => s.id === leaving)).toBe(true); // session still pinned
    t.pool.release(key, pin);
    expect(t.pool.snapshot().some((s) => s.id === leaving)).toBe(false);
    expect(t.backends.get(leaving)!.closed).toBe(true);
    expect(t.events.map((e) => e.type)).toContain('removed');
    expect(await metrics.render()).not.toMatch(new RegExp(`voicegate_instance_(up|sessions|capacity)\\{pool="gpu",instance="${leaving}"`));
    // Late bookkeeping from a straggler is harmless.
    expect(() => t.pool.reportFailure(pin, 'connect')).not.toThrow();
  });

  it('an instance that comes back while retiring is the same instance, with its sessions', async () => {
    const t = setup();
    t.answer(['10.0.0.1', '10.0.0.2']);
    await t.discovery.refresh();
    const id = idOf('10.0.0.2');
    const key = KEYS.find((k) => t.pool.candidates(k, undefined, 1)[0]!.id === id)!;
    const pin = t.pool.pin(key)!;
    t.answer(['10.0.0.1']);
    await t.discovery.refresh();
    t.answer(['10.0.0.1', '10.0.0.2']);
    await t.discovery.refresh();
    expect(t.pool.instance(id)).toBe(pin);
    expect(pin.sessions).toBe(1);
    expect(t.pool.pin(key)).toBe(pin);
    expect(t.backends.get(id)!.closed).toBe(false);
  });

  it('runs active checks on instances added after health checks started, and stops them on removal', async () => {
    vi.useFakeTimers();
    const t = setup();
    t.pool.startHealthChecks();
    t.answer(['10.0.0.1']);
    await t.discovery.refresh();
    const backend = t.backends.get(idOf('10.0.0.1'))!;
    await vi.advanceTimersByTimeAsync(3000);
    expect(backend.checks).toBeGreaterThanOrEqual(3);
    backend.mode = 'fail';
    await vi.advanceTimersByTimeAsync(2000);
    expect(t.pool.instance(idOf('10.0.0.1'))!.healthy).toBe(false);
    t.answer([]);
    await t.discovery.refresh();
    const checks = backend.checks;
    await vi.advanceTimersByTimeAsync(5000);
    expect(backend.checks).toBe(checks);
    t.pool.stop();
  });
});
