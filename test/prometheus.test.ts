/**
 * End to end: a real Prometheus scrapes a real gateway while the simulator carries calls,
 * and every panel of the Grafana dashboard returns data through Prometheus's HTTP API.
 *
 * Phases, so that every metric has something to show:
 *   A. healthy fleet (sim-1, sim-2): TTFB, RTF, TTFA, segmenter hold, audio per instance;
 *   B. sim-2 answers every request with 500: backend errors, failovers (http_5xx), ejection;
 *   C. sim-1 fails too: everything spills to the fake Cartesia (audio and characters);
 *   D. faults cleared, both instances back: utilization and headroom have usable capacity.
 * Sessions end with close 1000 (sessions_total{outcome="ok"}). Bounded: about 15 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import {
  dashboardQueries,
  loadAlertRules,
  loadDashboard,
  startPrometheus,
  substituteVariables,
  testVariableValues,
  type RunningPrometheus,
} from './helpers/prometheus.ts';

const POOL = 'kokoro';
let fleet: SimFleet;
let gateway: Gateway;
let prometheus: RunningPrometheus;
let port = 0;
let callCount = 0;
const failedCalls: string[] = [];

/** One call: start, one turn of two sentences, wait for turn_end, close normally. */
async function call(): Promise<void> {
  const id = `call-${(callCount += 1)}`;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream?session_id=${id}`);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${id}: no turn_end within 10 s`)), 10_000);
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 24000 } })));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const message = JSON.parse(String(data)) as { type: string; message?: string; fatal?: boolean };
      if (message.type === 'ready') {
        ws.send(JSON.stringify({ type: 'text', text: `Hello, this is ${id}. ` }));
        ws.send(JSON.stringify({ type: 'text', text: 'Your order has shipped today.' }));
        ws.send(JSON.stringify({ type: 'flush' }));
      } else if (message.type === 'turn_end') {
        clearTimeout(timer);
        resolve();
      } else if (message.type === 'error' && message.fatal) {
        clearTimeout(timer);
        reject(new Error(`${id}: ${message.message}`));
      }
    });
  }).catch((error: unknown) => void failedCalls.push(String(error)));
  await new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once('close', () => resolve());
    ws.close(1000);
  });
}

async function calls(concurrent: number): Promise<void> {
  await Promise.all(Array.from({ length: concurrent }, () => call()));
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

async function instanceUp(instance: string): Promise<number> {
  return (await gateway.metrics.instanceUp.get()).values.find((v) => v.labels.instance === instance)?.value ?? -1;
}

beforeAll(async () => {
  fleet = await startSimFleet({ count: 2, protocol: 'openai', controlPort: null, cartesiaPort: 0, latency: { first_audio_ms: 40, rtf: 0.05, chunk_ms: 100 } });
  const cartesia = fleet.cartesia;
  if (!cartesia) throw new Error('the sim fleet started no fake Cartesia');
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0, engine: 'ws' },
    pools: [{
      name: POOL,
      backend: 'openai',
      model: 'kokoro',
      voices: ['af_heart'],
      instances: fleet.instances.map((instance) => ({ id: instance.id, url: instance.url, max_concurrency: 4 })),
      health: { path: '/health', interval_ms: 200, timeout_ms: 150, rise: 1, fall: 1, eject_after: 2, eject_base_ms: 500, eject_max_ms: 1000 },
      timeouts: { connect_ms: 300, first_audio_ms: 800, stall_ms: 1000 },
    }],
    fallback: { backend: 'cartesia', url: cartesia.url, api_key: 'test-key', voice_map: { default: 'sim-voice' } },
  });
  gateway = await createGateway({ config });
  port = await gateway.listen();
  prometheus = await startPrometheus({ targets: [`127.0.0.1:${port}`], intervalSeconds: 1 });
  await prometheus.waitForScrapes(1);
  await waitFor(() => gateway.fleet.anyUp(), 'an instance up');

  // Each phase runs two rounds with a scrape between them: a labelled counter appears only
  // at its first increment, and rate()/increase() need it sampled before it grows.
  const rounds = async (concurrent: number) => {
    await calls(concurrent);
    await prometheus.waitForScrapes(1);
    await calls(concurrent);
  };
  // A. healthy
  await rounds(4);
  // B. sim-2 fails every request
  const [sim1, sim2] = fleet.instances;
  await sim2.setFaults({ error_rate: 1, error_status: 500 });
  await rounds(4);
  // C. both fail: Cartesia carries the calls
  await sim1.setFaults({ error_rate: 1, error_status: 500 });
  await rounds(3);
  // D. recovery
  await sim1.setFaults({ error_rate: 0 });
  await sim2.setFaults({ error_rate: 0 });
  const deadline = Date.now() + 10_000;
  while ((await instanceUp(sim1.id)) !== 1 || (await instanceUp(sim2.id)) !== 1) {
    if (Date.now() > deadline) throw new Error('instances did not come back up');
    await new Promise((done) => setTimeout(done, 100));
  }
  await calls(4);
  await prometheus.waitForScrapes(2);
}, 55_000);

afterAll(async () => {
  await prometheus?.close();
  await gateway?.close();
  await fleet?.close();
});

describe('dashboard against a real gateway and Prometheus', () => {
  it('carried the calls', () => {
    expect(failedCalls).toEqual([]);
  });

  it('returns data for every panel query', async () => {
    const problems: string[] = [];
    const queries = dashboardQueries(loadDashboard());
    for (const query of queries) {
      const name = `panel ${query.panelId} "${query.panelTitle}" ${query.refId}`;
      try {
        const result = await prometheus.query(substituteVariables(query.expr, testVariableValues('1m')));
        if (!result.some((sample) => Number.isFinite(Number(sample.value[1])))) problems.push(`${name}: no finite data (${JSON.stringify(result)})`);
      } catch (error) {
        problems.push(`${name}: ${String(error)}`);
      }
    }
    expect(queries.length).toBeGreaterThan(25);
    expect(problems).toEqual([]);
  });

  it('shows the failovers, backend errors and Cartesia spill that happened', async () => {
    const labelsOf = async (expr: string, label: string) =>
      (await prometheus.query(expr)).filter((s) => Number(s.value[1]) > 0).map((s) => s.metric[label]);
    const [sim1, sim2] = fleet.instances;
    expect(await labelsOf('sum by (kind) (increase(voicegate_backend_errors_total[1m]))', 'kind')).toContain('http_5xx');
    // The raw counter, not increase(): sim-2 fails every synthesis, so after one burst its
    // breaker keeps it out (the half-open probe fails too) and its from="sim-2" series, born
    // at that burst, never grows again for increase() to see.
    expect(await labelsOf('sum by (from) (voicegate_failovers_total)', 'from')).toEqual(expect.arrayContaining([sim2.id]));
    expect(await labelsOf('sum by (provider) (increase(voicegate_audio_seconds_total[1m]))', 'provider')).toEqual(expect.arrayContaining([sim1.id, 'cartesia']));
    expect(await labelsOf('sum by (provider) (increase(voicegate_characters_total[1m]))', 'provider')).toContain('cartesia');
    expect(await labelsOf('sum by (outcome) (increase(voicegate_sessions_total[1m]))', 'outcome')).toContain('ok');
  });

  it('evaluates every alert rule without error against the gateway', async () => {
    const rules = await prometheus.rules();
    expect(rules.map((rule) => rule.name).sort()).toEqual(loadAlertRules().map((rule) => rule.alert).sort());
    expect(rules.filter((rule) => rule.health === 'err')).toEqual([]);
  });
});
