/**
 * A real Prometheus (Debian binary) scrapes a loopback server that exports voicegate's
 * Metrics with every kind of event observed, using deploy/prometheus/prometheus.yml's job
 * and loading alerts.yml. Every dashboard panel's query returns finite data, the key
 * capacity figures come out right, the per-GPU `instance` label survives the scrape, and
 * every alert rule evaluates without error. Independent of the gateway: this pins the
 * monitoring artefacts to the Metrics class; test/prometheus.test.ts does it end to end.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../src/metrics.ts';
import {
  dashboardQueries,
  loadAlertRules,
  loadDashboard,
  startPrometheus,
  substituteVariables,
  templateVariableSelectors,
  testVariableValues,
  type RunningPrometheus,
} from './helpers/prometheus.ts';

const metrics = new Metrics();
let server: Server;
let prometheus: RunningPrometheus;
let target = '';

/** One tick of traffic: every metric of DESIGN.md §6 moves. */
function traffic(): void {
  for (const instance of ['gpu-1', 'gpu-2']) {
    metrics.ttfb.observe({ pool: 'kokoro', instance }, instance === 'gpu-1' ? 0.12 : 0.3);
    metrics.rtf.observe({ pool: 'kokoro', instance }, 0.2);
    metrics.backendErrors.inc({ pool: 'kokoro', instance, kind: 'timeout' });
  }
  metrics.ttfa.observe(0.18);
  metrics.segmentWait.observe(0.04);
  metrics.failovers.inc({ from: 'gpu-2', to: 'cartesia', reason: 'timeout' });
  metrics.audioSeconds.inc({ provider: 'gpu-1' }, 0.3);
  metrics.audioSeconds.inc({ provider: 'cartesia' }, 0.1);
  metrics.characters.inc({ provider: 'gpu-1' }, 30);
  metrics.characters.inc({ provider: 'cartesia' }, 10);
  metrics.sessionsTotal.inc({ outcome: 'ok' });
  metrics.clientBackpressure.inc();
  metrics.queueWait.observe({ pool: 'kokoro', class: 'new_turn' }, 0.4);
  metrics.segmentsGivenUp.inc({ pool: 'kokoro', reason: 'max_wait' });
}

beforeAll(async () => {
  // kokoro: gpu-1 and gpu-2 serving (capacity 4 each), gpu-3 draining (capacity 4).
  for (const instance of ['gpu-1', 'gpu-2', 'gpu-3']) {
    metrics.registerInstance('kokoro', instance, 4);
    metrics.instanceUp.set({ pool: 'kokoro', instance }, 1);
  }
  metrics.registerProvider('cartesia'); // as the gateway does when a fallback is configured
  metrics.instanceDraining.set({ pool: 'kokoro', instance: 'gpu-3' }, 1);
  metrics.instanceActiveStreams.set({ pool: 'kokoro', instance: 'gpu-1' }, 3);
  metrics.instanceActiveStreams.set({ pool: 'kokoro', instance: 'gpu-2' }, 1);
  metrics.instanceSessions.set({ pool: 'kokoro', instance: 'gpu-1' }, 2);
  metrics.instanceSessions.set({ pool: 'kokoro', instance: 'gpu-2' }, 1);
  metrics.sessionsActive.set(3);
  // The pool's wait queue, as the session factory registers it.
  metrics.registerPool('kokoro', ['continuing', 'new_turn', 'http']);
  metrics.queueDepth.set({ pool: 'kokoro', class: 'new_turn' }, 2);
  metrics.demandSources.set('kokoro', () => 6);

  server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    metrics.render().then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body), () => res.writeHead(500).end());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  target = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  prometheus = await startPrometheus({ targets: [target], intervalSeconds: 1 });
  await prometheus.waitForScrapes(1);
  // Traffic across three scrapes, so that every rate() sees increases.
  for (let tick = 0; tick < 12; tick += 1) {
    traffic();
    await new Promise((done) => setTimeout(done, 250));
  }
  await prometheus.waitForScrapes(2);
}, 45_000);

afterAll(async () => {
  await prometheus?.close();
  await new Promise((done) => server?.close(done));
});

async function value(expr: string): Promise<number> {
  const result = await prometheus.query(substituteVariables(expr, testVariableValues('1m')));
  expect(result, expr).toHaveLength(1);
  return Number(result[0].value[1]);
}

function panelExpr(title: string, refId = 'A'): string {
  const query = dashboardQueries(loadDashboard()).find((q) => q.panelTitle === title && q.refId === refId);
  if (!query) throw new Error(`no panel "${title}" ${refId}`);
  return query.expr;
}

describe('dashboard against a real Prometheus', () => {
  it('keeps the GPU instance label and records the gateway replica', async () => {
    const series = await prometheus.query('voicegate_instance_capacity');
    expect(series.map((s) => s.metric.instance).sort()).toEqual(['gpu-1', 'gpu-2', 'gpu-3']);
    for (const s of series) expect(s.metric).toMatchObject({ job: 'voicegate', gateway: target, pool: 'kokoro' });
    expect(series.some((s) => 'exported_instance' in s.metric)).toBe(false);
  });

  it('returns finite data for every panel query', async () => {
    const failures: string[] = [];
    const queries = dashboardQueries(loadDashboard());
    for (const query of queries) {
      const expr = substituteVariables(query.expr, testVariableValues('1m'));
      try {
        const result = await prometheus.query(expr);
        if (result.length === 0) failures.push(`panel ${query.panelId} "${query.panelTitle}" ${query.refId}: no data`);
        for (const sample of result) {
          if (!Number.isFinite(Number(sample.value[1]))) failures.push(`panel ${query.panelId} "${query.panelTitle}" ${query.refId}: ${sample.value[1]}`);
        }
      } catch (error) {
        failures.push(`panel ${query.panelId} "${query.panelTitle}" ${query.refId}: ${String(error)}`);
      }
    }
    expect(queries.length).toBeGreaterThan(25);
    expect(failures).toEqual([]);
  });

  it('lists the pools and instances for the template variables', async () => {
    const [pools, instances] = templateVariableSelectors(loadDashboard());
    const labels = async (selector: string, label: string) =>
      (await prometheus.query(`group by (${label}) (${substituteVariables(selector, testVariableValues('1m'))})`)).map((s) => s.metric[label]).sort();
    expect(await labels(pools, 'pool')).toEqual(['kokoro']);
    expect(await labels(instances, 'instance')).toEqual(['gpu-1', 'gpu-2', 'gpu-3']);
  });

  it('computes utilization and headroom against usable capacity (up, not draining)', async () => {
    expect(await value(panelExpr('Fleet utilization'))).toBeCloseTo(4 / 8, 5);
    expect(await value(panelExpr('Headroom (calls)'))).toBe(4);
    const streams = 'Streams: active / usable / configured';
    expect([await value(panelExpr(streams, 'A')), await value(panelExpr(streams, 'B')), await value(panelExpr(streams, 'C'))]).toEqual([4, 8, 12]);
    const instances = 'Instances serving / configured';
    expect([await value(panelExpr(instances, 'A')), await value(panelExpr(instances, 'B'))]).toEqual([2, 3]);
  });

  it('computes the Cartesia share of audio and the latency quantiles', async () => {
    expect(await value(panelExpr('Cartesia share of audio'))).toBeCloseTo(0.25, 2);
    expect(await value(panelExpr('Cartesia characters in range'))).toBeGreaterThan(0);
    const ttfb = await prometheus.query(substituteVariables(panelExpr('Time to first byte per instance (p50 / p95 / p99)', 'B'), testVariableValues('1m')));
    const byInstance = Object.fromEntries(ttfb.map((s) => [s.metric.instance, Number(s.value[1])]));
    // 0.12 s lands in the 0.1–0.15 bucket, 0.3 s in 0.2–0.3.
    expect(byInstance['gpu-1']).toBeGreaterThan(0.1);
    expect(byInstance['gpu-1']).toBeLessThanOrEqual(0.15);
    expect(byInstance['gpu-2']).toBeGreaterThan(0.2);
    expect(byInstance['gpu-2']).toBeLessThanOrEqual(0.3);
  });

  it('evaluates every alert rule without error', async () => {
    const deadline = Date.now() + 10_000;
    let rules = await prometheus.rules();
    while (rules.some((rule) => rule.health === 'unknown') && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 200));
      rules = await prometheus.rules();
    }
    expect(rules.map((rule) => rule.name).sort()).toEqual(loadAlertRules().map((rule) => rule.alert).sort());
    expect(rules.filter((rule) => rule.health !== 'ok')).toEqual([]);
  });
});
