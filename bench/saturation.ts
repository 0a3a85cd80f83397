/**
 * When the whole fleet is full (docs/failover.md): offered load from 0.5× to 3× the fleet's
 * stream capacity, each level run once with `session.max_wait_ms: 0` (a segment nobody can
 * take right now is given up: the behaviour before the wait queue) and once with the default
 * (10 000 ms), side by side. Per level: segments delivered and lost, time to first audio of
 * each turn (flush → first audio frame, client side) p50/p95, and the pool queue's wait p50/p95
 * (from the gateway's voicegate_queue_wait_seconds histogram). Writes a JSON and an SVG.
 *
 * Fleet: 6 simulated GPUs of 4 streams + a fake Cartesia of 8 contexts = 32 streams. A call
 * with lookahead 2 keeps up to 2 streams busy while it speaks, so `capacity × load / 2` calls
 * offer `load` × capacity. Each call speaks TURNS turns of 4 sentences, 300 ms apart.
 *
 *   npx tsx bench/saturation.ts [--levels 0.5,0.8,1,1.5,2,3] [--turns 2] [--out bench/saturation-results]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { startFakeCartesia } from '../src/sim/cartesia.ts';
import { startSimFleet } from '../src/sim/fleet.ts';
import { StreamClient } from '../test/helpers/stream-client.ts';
import { percentile } from './calls/stats.ts';

const { values } = parseArgs({
  options: {
    levels: { type: 'string', default: '0.5,0.8,1,1.5,2,3' },
    turns: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/saturation-results' },
  },
});
const LEVELS = values.levels.split(',').map(Number);
const TURNS = Number(values.turns);
const INSTANCES = 6;
const STREAMS_PER_GPU = 4;
const FALLBACK_CONTEXTS = 8;
const CAPACITY = INSTANCES * STREAMS_PER_GPU + FALLBACK_CONTEXTS;
const SENTENCES = ['Your order shipped from the warehouse this morning.', 'The courier expects to deliver it on Thursday.', 'You will get a message with the tracking link.', 'Is there anything else I can help you with today?'];
const START = { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: 16000 } };

/** A quantile of a prom-client histogram (linear within a bucket, as histogram_quantile). */
function histogramQuantile(q: number, buckets: { le: number; count: number }[]): number {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / Math.max(1, b.count - prevCount);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

interface LevelResult {
  load: number;
  maxWaitMs: number;
  calls: number;
  segmentsOffered: number;
  delivered: number;
  lost: number;
  ttfaP50: number;
  ttfaP95: number;
  queueWaitP50: number;
  queueWaitP95: number;
  waits: number;
}

async function runLevel(load: number, maxWaitMs: number): Promise<LevelResult> {
  const fleet = await startSimFleet({
    count: INSTANCES,
    protocol: 'openai',
    controlPort: null,
    latency: { first_audio_ms: 100, rtf: 0.2, chunk_ms: 200, comfortable: STREAMS_PER_GPU, max: STREAMS_PER_GPU },
  });
  const cartesia = await startFakeCartesia({ ttfaMs: 100, msPerChar: 70, rtf: 0.2, maxContexts: FALLBACK_CONTEXTS });
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    session: { max_wait_ms: maxWaitMs },
    log: { level: 'silent' },
    pools: [
      {
        name: 'kokoro',
        backend: 'openai',
        voices: ['af_heart'],
        instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: STREAMS_PER_GPU })),
        health: { interval_ms: 1000, timeout_ms: 800 },
        timeouts: { first_audio_ms: 1500, stall_ms: 2000 },
      },
    ],
    fallback: { backend: 'cartesia', url: cartesia.url, api_key: 'bench', max_concurrency: FALLBACK_CONTEXTS },
  });
  const gateway = await createGateway({ config });
  const url = `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
  const calls = Math.max(1, Math.round((CAPACITY * load) / 2));
  const ttfa: number[] = [];
  let delivered = 0;
  await Promise.all(
    Array.from({ length: calls }, async (_, c) => {
      const client = await StreamClient.started(`${url}?session_id=sat-${load}-${maxWaitMs}-${c}`, START);
      for (let t = 0; t < TURNS; t++) {
        const before = client.events.length;
        const flushedAt = performance.now();
        for (const s of SENTENCES) client.send({ type: 'text', text: `${s} ` });
        client.send({ type: 'flush' });
        await client.waitCount('turn_end', t + 1, 120_000);
        const firstAudio = client.events.findIndex((e, i) => i >= before && e.type === 'audio');
        if (firstAudio >= 0) ttfa.push(client.times[firstAudio]! - flushedAt);
        delivered += client.events.slice(before).filter((e) => e.type === 'segment_end').length;
        await new Promise((r) => setTimeout(r, 300));
      }
      await client.close();
    }),
  );
  const hist = await gateway.metrics.queueWait.get();
  const buckets = new Map<number, number>();
  for (const v of hist.values) {
    if (v.metricName !== 'voicegate_queue_wait_seconds_bucket') continue;
    const labels = v.labels as Record<string, string | number | undefined>;
    const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + v.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
  await gateway.close();
  await fleet.close();
  await cartesia.close();
  const offered = calls * TURNS * SENTENCES.length;
  ttfa.sort((a, b) => a - b);
  return {
    load,
    maxWaitMs,
    calls,
    segmentsOffered: offered,
    delivered,
    lost: offered - delivered,
    ttfaP50: percentile(ttfa, 50),
    ttfaP95: percentile(ttfa, 95),
    queueWaitP50: histogramQuantile(0.5, sorted) * 1000,
    queueWaitP95: histogramQuantile(0.95, sorted) * 1000,
    waits: sorted.at(-1)?.count ?? 0,
  };
}

const results: LevelResult[] = [];
const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '–');
console.log(`capacity ${CAPACITY} streams (${INSTANCES} GPUs × ${STREAMS_PER_GPU} + ${FALLBACK_CONTEXTS} fallback contexts); ${TURNS} turns × ${SENTENCES.length} sentences per call`);
console.log('| load | max_wait_ms | calls | segments | delivered | lost | TTFA p50 ms | TTFA p95 ms | queue wait p50 ms | p95 ms | waits |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
// A discarded warm-up level: the first gateway of a process pays for JIT and lazy loading.
await runLevel(0.5, 10_000);
for (const [n, load] of LEVELS.entries()) {
  // Side by side: the two settings at the same level, one after the other, alternating which
  // goes first so neither always runs on the warmer process.
  for (const maxWaitMs of n % 2 === 0 ? [0, 10_000] : [10_000, 0]) {
    const r = await runLevel(load, maxWaitMs);
    results.push(r);
    console.log(`| ${r.load}× | ${r.maxWaitMs} | ${r.calls} | ${r.segmentsOffered} | ${r.delivered} | ${r.lost} | ${fmt(r.ttfaP50)} | ${fmt(r.ttfaP95)} | ${fmt(r.queueWaitP50)} | ${fmt(r.queueWaitP95)} | ${r.waits} |`);
  }
}

mkdirSync(values.out, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
writeFileSync(join(values.out, `saturation-${stamp}.json`), JSON.stringify({ capacity: CAPACITY, turns: TURNS, results }, null, 2));
writeFileSync(join(values.out, `saturation-${stamp}.svg`), plot(results));
console.log(`wrote ${values.out}/saturation-${stamp}.{json,svg}`);

/** Two panels: share of segments lost, and TTFA p95, against offered load, per setting. */
function plot(rs: LevelResult[]): string {
  const W = 760;
  const H = 360;
  const panelW = 320;
  const top = 50;
  const ph = 240;
  const loads = [...new Set(rs.map((r) => r.load))];
  const x = (i: number, left: number) => left + (i / Math.max(1, loads.length - 1)) * panelW;
  const series = (key: (r: LevelResult) => number, max: number, left: number, wait: number, color: string) => {
    const pts = loads.map((l, i) => {
      const r = rs.find((q) => q.load === l && q.maxWaitMs === wait)!;
      const v = Math.min(max, Math.max(0, key(r)));
      return `${x(i, left).toFixed(1)},${(top + ph - (v / max) * ph).toFixed(1)}`;
    });
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`;
  };
  const lostMax = 100;
  const ttfaMax = Math.max(1000, ...rs.map((r) => (Number.isFinite(r.ttfaP95) ? r.ttfaP95 : 0))) * 1.1;
  const axis = (left: number, label: string, max: number, unit: string) => {
    const out = [`<line x1="${left}" y1="${top + ph}" x2="${left + panelW}" y2="${top + ph}" stroke="#444"/>`, `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + ph}" stroke="#444"/>`, `<text x="${left}" y="${top - 12}">${label}</text>`];
    for (let k = 0; k <= 4; k++) {
      const y = top + ph - (k / 4) * ph;
      out.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end">${Math.round((max * k) / 4)}${unit}</text>`);
    }
    loads.forEach((l, i) => out.push(`<text x="${x(i, left)}" y="${top + ph + 16}" text-anchor="middle">${l}×</text>`));
    return out.join('');
  };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    axis(60, 'segments lost (%)', lostMax, '%'),
    series((r) => (100 * r.lost) / r.segmentsOffered, lostMax, 60, 0, '#d62728'),
    series((r) => (100 * r.lost) / r.segmentsOffered, lostMax, 60, 10_000, '#1f77b4'),
    axis(430, 'turn TTFA p95 (ms)', ttfaMax, ''),
    series((r) => r.ttfaP95, ttfaMax, 430, 0, '#d62728'),
    series((r) => r.ttfaP95, ttfaMax, 430, 10_000, '#1f77b4'),
    `<text x="60" y="${H - 30}" fill="#d62728">max_wait_ms 0 (drop when full)</text>`,
    `<text x="300" y="${H - 30}" fill="#1f77b4">max_wait_ms 10000 (wait queue, default)</text>`,
    `<text x="60" y="${H - 12}">offered load × fleet stream capacity (${CAPACITY} streams)</text>`,
    '</svg>',
  ].join('\n');
}
