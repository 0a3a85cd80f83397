/**
 * Adaptive capacity vs a guessed max_concurrency (docs/routing.md, "Adaptive capacity"): the
 * same offered load, from 0.5× to 2× the fleet's comfortable capacity, against 4 simulated GPUs
 * comfortable at 3 streams that slow down 45 % per stream beyond (and refuse past 8), with a
 * fake Cartesia fallback of 8 contexts. Each level runs once with `capacity.mode: fixed` at the
 * guessed cap (max_concurrency 8, what the simulated server accepts) and once `adaptive` (max 8), side by side,
 * alternating which goes first. Each gateway first carries 6 s of light traffic (not measured)
 * so the adaptive limits have learned. Per level: time to first audio of each turn
 * (flush → first audio, client side) p50/p95, segments spilled to the fallback, segments lost.
 *
 *   npx tsx bench/adaptive.ts [--levels 0.5,1,1.5,2] [--turns 2]
 */
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { startFakeCartesia } from '../src/sim/cartesia.ts';
import { startSimFleet } from '../src/sim/fleet.ts';
import { StreamClient } from '../test/helpers/stream-client.ts';
import { percentile } from './calls/stats.ts';

const { values } = parseArgs({ options: { levels: { type: 'string', default: '0.5,1,1.5,2' }, turns: { type: 'string', default: '2' } } });
const LEVELS = values.levels.split(',').map(Number);
const TURNS = Number(values.turns);
const INSTANCES = 4;
const COMFORTABLE = 3;
/** Each stream past the comfortable level slows every stream by this share: 0.45, about what public reports show for Qwen3-TTS (176 → 547 ms first audio at 8 streams) and Orpheus (0.13 → 0.67 s at 12). */
const SLOWDOWN = 0.45;
const GUESSED_CAP = 8;
const COMFORTABLE_CAPACITY = INSTANCES * COMFORTABLE;
const SENTENCES = ['Your order shipped from the warehouse this morning.', 'The courier expects to deliver it on Thursday.', 'You will get a message with the tracking link.', 'Is there anything else I can help you with today?'];
const START = { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: 16000 } };

interface Result {
  load: number;
  mode: 'fixed' | 'adaptive';
  calls: number;
  segments: number;
  delivered: number;
  spilled: number;
  ttfaP50: number;
  ttfaP95: number;
  limits: number[];
}

async function speakTurns(url: string, key: string, turns: number, ttfa: number[] | null, tally: { delivered: number; spilled: number }): Promise<void> {
  const client = await StreamClient.started(`${url}?session_id=${key}`, START);
  for (let t = 0; t < turns; t++) {
    const before = client.events.length;
    const flushedAt = performance.now();
    for (const s of SENTENCES) client.send({ type: 'text', text: `${s} ` });
    client.send({ type: 'flush' });
    await client.waitCount('turn_end', t + 1, 120_000);
    const events = client.events.slice(before);
    const first = client.events.findIndex((e, i) => i >= before && e.type === 'audio');
    if (ttfa && first >= 0) ttfa.push(client.times[first]! - flushedAt);
    tally.delivered += events.filter((e) => e.type === 'segment_end').length;
    tally.spilled += events.filter((e) => e.type === 'segment' && (e as { provider?: string }).provider === 'cartesia').length;
    await new Promise((r) => setTimeout(r, 200));
  }
  await client.close();
}

async function run(load: number, mode: 'fixed' | 'adaptive'): Promise<Result> {
  const fleet = await startSimFleet({ count: INSTANCES, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 150, rtf: 0.15, chunk_ms: 200, comfortable: COMFORTABLE, slowdown: SLOWDOWN, max: 8 } });
  const cartesia = await startFakeCartesia({ ttfaMs: 150, msPerChar: 70, rtf: 0.15, maxContexts: 8 });
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    pools: [
      {
        name: 'kokoro',
        backend: 'openai',
        voices: ['af_heart'],
        instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: GUESSED_CAP })),
        capacity: { mode },
        health: { interval_ms: 1000, timeout_ms: 800 },
        timeouts: { first_audio_ms: 3000, stall_ms: 3000 },
      },
    ],
    fallback: { backend: 'cartesia', url: cartesia.url, api_key: 'bench', max_concurrency: 8 },
  });
  const gateway = await createGateway({ config });
  const url = `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
  // Warm-up, not measured: light traffic for ~6 s, so an adaptive limit has learned.
  const warm = { delivered: 0, spilled: 0 };
  const warmUntil = performance.now() + 6000;
  await Promise.all(Array.from({ length: 4 }, async (_, i) => {
    let n = 0;
    while (performance.now() < warmUntil) await speakTurns(url, `warm-${i}-${n++}`, 1, null, warm);
  }));
  const calls = Math.max(1, Math.round((COMFORTABLE_CAPACITY * load) / 2));
  const ttfa: number[] = [];
  const tally = { delivered: 0, spilled: 0 };
  await Promise.all(Array.from({ length: calls }, (_, c) => speakTurns(url, `load-${load}-${c}`, TURNS, ttfa, tally)));
  const limits = gateway.fleet.snapshot().map((s) => s.capacity);
  await gateway.close();
  await fleet.close();
  await cartesia.close();
  ttfa.sort((a, b) => a - b);
  return { load, mode, calls, segments: calls * TURNS * SENTENCES.length, delivered: tally.delivered, spilled: tally.spilled, ttfaP50: percentile(ttfa, 50), ttfaP95: percentile(ttfa, 95), limits };
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '–');
console.log(`${INSTANCES} GPUs comfortable at ${COMFORTABLE} streams (capacity ${COMFORTABLE_CAPACITY}), guessed cap ${GUESSED_CAP}; fallback 8 contexts; ${TURNS} turns × ${SENTENCES.length} sentences per call`);
console.log('| load | mode | calls | segments | delivered | lost | spilled to fallback | TTFA p50 ms | TTFA p95 ms | limits at the end |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const [n, load] of LEVELS.entries()) {
  for (const mode of n % 2 === 0 ? (['fixed', 'adaptive'] as const) : (['adaptive', 'fixed'] as const)) {
    const r = await run(load, mode);
    console.log(`| ${r.load}× | ${r.mode} | ${r.calls} | ${r.segments} | ${r.delivered} | ${r.segments - r.delivered} | ${r.spilled} | ${fmt(r.ttfaP50)} | ${fmt(r.ttfaP95)} | ${r.limits.join(' ')} |`);
  }
}
