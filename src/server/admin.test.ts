import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.ts';
import { Fleet } from '../routing/fleet.ts';
import { FakeBackend, testPoolConfig } from '../../test/helpers/routing.ts';
import { adminRoutes } from './admin.ts';
import type { HttpRoute, RequestInfo } from './engine.ts';
import { FakeHttpResponse as FakeResponse } from '../../test/helpers/http-response.ts';

function request(method: string, path: string, headers: Record<string, string> = {}): RequestInfo {
  return { method, path, query: new URLSearchParams(), headers, remoteAddress: '127.0.0.1' };
}

function setup() {
  const fleet = new Fleet({
    pools: [testPoolConfig({ name: 'kokoro', instances: 3, maxConcurrency: 4 })],
    metrics: new Metrics({ defaultMetrics: false }),
    createBackend: () => new FakeBackend(),
  });
  const routes = adminRoutes(fleet, { authorize: (req) => req.headers.authorization === 'Bearer k', mode: 'keys' });
  const call = async (method: string, path: string, auth = true): Promise<FakeResponse> => {
    const route = routes.find((r: HttpRoute) => r.method === method && (r.path === path || (r.path.endsWith('/*') && path.startsWith(r.path.slice(0, -1)))));
    if (!route) throw new Error(`no route for ${method} ${path}`);
    const res = new FakeResponse();
    await route.handler(request(method, path, auth ? { authorization: 'Bearer k' } : {}), res, null);
    expect(res.ended).toBe(true);
    return res;
  };
  return { fleet, call };
}

describe('admin routes', () => {
  it('GET /admin/instances lists pool, id, url, health, draining, sessions, streams, capacity', async () => {
    const { fleet, call } = setup();
    const router = fleet.router('kokoro');
    const inst = router.pin('CA1')!;
    router.tryAcquire(inst);
    const res = await call('GET', '/admin/instances');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    const { instances } = res.json() as { instances: Record<string, unknown>[] };
    expect(instances).toHaveLength(3);
    expect(instances.find((i) => i.id === inst.id)).toMatchObject({
      pool: 'kokoro',
      url: inst.url,
      health: 'up',
      healthy: true,
      draining: false,
      sessions: 1,
      streams: 1,
      capacity: 4,
    });
  });

  it('drain and undrain change the instance and answer its state', async () => {
    const { fleet, call } = setup();
    const res = await call('POST', '/admin/instances/gpu-1/drain');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ instances: [{ id: 'gpu-1', draining: true }] });
    for (let i = 0; i < 100; i++) expect(fleet.router('kokoro').pin(`k${i}`)!.id).not.toBe('gpu-1');
    const back = await call('POST', '/admin/instances/gpu-1/undrain');
    expect(back.json()).toMatchObject({ instances: [{ id: 'gpu-1', draining: false }] });
  });

  it('404 for an unknown id or action; 401 without authorization', async () => {
    const { fleet, call } = setup();
    const unknown = await call('POST', '/admin/instances/gpu-9/drain');
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ error: { code: 'unknown_instance' } });
    expect((await call('POST', '/admin/instances/gpu-1/explode')).status).toBe(404);
    expect((await call('POST', '/admin/instances/gpu-1')).status).toBe(404);
    const denied = await call('POST', '/admin/instances/gpu-1/drain', false);
    expect(denied.status).toBe(401);
    expect(denied.json()).toMatchObject({ error: { code: 'unauthorized' } });
    expect(fleet.instance('gpu-1')!.draining).toBe(false);
    expect((await call('GET', '/admin/instances', false)).status).toBe(401);
  });
});
