import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config.ts';
import { Metrics } from '../metrics.ts';
import type { InstanceEvent } from './events.ts';
import { Fleet } from './fleet.ts';
import { FakeBackend, testPoolConfig } from '../../test/helpers/routing.ts';

function makeFleet(pools = [testPoolConfig({ name: 'kokoro', voices: ['af_heart', 'am_adam'] }), testPoolConfig({ name: 'xtts', voices: ['anna'], instances: 2 })]) {
  const backends: FakeBackend[] = [];
  const fleet = new Fleet({
    pools,
    metrics: new Metrics({ defaultMetrics: false }),
    createBackend: () => {
      const b = new FakeBackend();
      backends.push(b);
      return b;
    },
  });
  return { fleet, backends };
}

describe('Fleet', () => {
  it('finds a pool by name', () => {
    const { fleet } = makeFleet();
    expect(fleet.router('xtts').pool).toBe('xtts');
    expect(fleet.router('xtts').instances).toHaveLength(2);
    expect(() => fleet.router('nope')).toThrow(expect.objectContaining({ code: 'unknown_pool' }));
  });

  it('drains an id in every pool listing it, emits typed events, and /ready follows', () => {
    const { fleet } = makeFleet();
    const events: InstanceEvent[] = [];
    fleet.on('instance', (e) => events.push(e));
    expect(fleet.anyUp()).toBe(true);
    // testPoolConfig names instances gpu-0…: gpu-0 and gpu-1 are in both pools.
    expect(fleet.drain('gpu-1')).toBe(true);
    expect(events.map((e) => `${e.pool}/${e.instance}:${e.type}`)).toEqual(['kokoro/gpu-1:draining', 'xtts/gpu-1:draining']);
    expect(fleet.drain('missing')).toBe(false);
    for (const id of ['gpu-0', 'gpu-2', 'gpu-3']) fleet.drain(id);
    expect(fleet.anyUp()).toBe(false);
    expect(fleet.undrain('gpu-3')).toBe(true);
    expect(fleet.anyUp()).toBe(true);
    expect(fleet.snapshot().filter((s) => s.draining).map((s) => `${s.pool}/${s.id}`)).toEqual(['kokoro/gpu-0', 'kokoro/gpu-1', 'kokoro/gpu-2', 'xtts/gpu-0', 'xtts/gpu-1']);
  });

  it('stop() closes every backend', async () => {
    const { fleet, backends } = makeFleet();
    fleet.startHealthChecks();
    await fleet.stop();
    expect(backends).toHaveLength(6);
    expect(backends.every((b) => b.closed)).toBe(true);
  });

  it('VOICEGATE_INSTANCES: ids derived from URLs, so two gateways pin alike', () => {
    const env = { VOICEGATE_INSTANCES: 'http://10.0.0.11:8880,http://10.0.0.12:8880,http://10.0.0.13:8880' };
    const raw = { pools: [{ name: 'kokoro', backend: 'openai', voices: ['v'], instances: [{ url: 'http://x:1', max_concurrency: 3 }] }] };
    const a = makeFleet(parseConfig(raw, env).pools).fleet;
    const b = makeFleet(parseConfig(raw, env).pools).fleet;
    expect(a.snapshot().map((s) => [s.url, s.capacity])).toEqual([
      ['http://10.0.0.11:8880', 3],
      ['http://10.0.0.12:8880', 3],
      ['http://10.0.0.13:8880', 3],
    ]);
    expect(a.snapshot()[0].id).toMatch(/^10\.0\.0\.11-8880-[0-9a-f]{6}$/);
    const ra = a.router('kokoro');
    const rb = b.router('kokoro');
    for (let i = 0; i < 200; i++) expect(rb.pin(`CA${i}`)!.id).toBe(ra.pin(`CA${i}`)!.id);
  });
});
