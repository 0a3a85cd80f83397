/**
 * Encoder benchmark (issue 21): `npx tsx bench/encoders.ts` (about a minute on 2 cores).
 *
 * 1. Cost per format, side by side in alternating rounds (median of 3): audio seconds encoded
 *    per CPU second ("× real time per core") for 24 kHz mono speech-like audio fed in 200 ms
 *    chunks, as the speech API feeds its encoder. Candidates measured beside ours: the
 *    wasm-media-encoders wrapper (same LAME WASM, Float32 copies), pure-JS lamejs, opusscript
 *    (libopus WASM). Our mp3 is LAME WASM driven directly, opus is @evan/opus (native addon;
 *    its WASM build: OPUS_FORCE_WASM=1), flac is ours.
 * 2. Added time to first byte of mp3 (and opus) vs pcm through the gateway: the OpenAI speech
 *    API in front of one simulator instance (20 ms to first audio, 200 ms chunks), requests of
 *    the formats in shuffled order, time from sending the request to the first body byte.
 */
import { Mp3Encoder as LameJs } from '@breezystack/lamejs';
import OpusScript from 'opusscript';
import { createMp3Encoder } from 'wasm-media-encoders';
import { createEncoder } from '../src/audio/encoders/index.ts';
import type { EncoderFormat } from '../src/audio/encoders/encoder.ts';
import { parseConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { startSimFleet } from '../src/sim/fleet.ts';

const RATE = 24000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CHUNK = RATE / 5; // 200 ms

/** Speech-like: a few harmonics under a syllable-rate envelope, with a little noise. */
function testSignal(): Int16Array {
  const n = RATE * SECONDS;
  const out = new Int16Array(n);
  let seed = 1;
  for (let i = 0; i < n; i++) {
    const t = i / RATE;
    const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t);
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const noise = (seed / 0x7fffffff - 0.5) * 0.05;
    out[i] = Math.round(32767 * env * (0.35 * Math.sin(2 * Math.PI * 180 * t) + 0.2 * Math.sin(2 * Math.PI * 1230 * t) + 0.1 * Math.sin(2 * Math.PI * 2890 * t) + noise));
  }
  return out;
}

const signal = testSignal();

interface Case {
  name: string;
  /** Encodes the whole signal in 200 ms chunks; returns the bytes produced. */
  run(): number;
}

function ours(format: EncoderFormat): Case {
  return {
    name: `voicegate ${format}`,
    run() {
      const encoder = createEncoder(format, { sampleRate: RATE });
      let bytes = 0;
      for (let o = 0; o < signal.length; o += CHUNK) bytes += encoder.encode(signal.subarray(o, o + CHUNK)).length;
      bytes += encoder.end().length;
      encoder.close();
      return bytes;
    },
  };
}

const wme = await createMp3Encoder();
const cases: Case[] = [
  ours('mp3'),
  {
    name: 'wasm-media-encoders mp3 (its wrapper)',
    run() {
      wme.configure({ channels: 1, sampleRate: RATE, bitrate: 64 });
      const f = new Float32Array(CHUNK);
      let bytes = 0;
      for (let o = 0; o < signal.length; o += CHUNK) {
        for (let i = 0; i < CHUNK; i++) f[i] = signal[o + i]! / 32768;
        bytes += wme.encode([f]).length;
      }
      return bytes + wme.finalize().length;
    },
  },
  {
    name: 'lamejs mp3 (pure JS)',
    run() {
      const e = new LameJs(1, RATE, 64);
      let bytes = 0;
      for (let o = 0; o < signal.length; o += CHUNK) bytes += e.encodeBuffer(signal.subarray(o, o + CHUNK)).length;
      return bytes + e.flush().length;
    },
  },
  ours('opus'),
  {
    name: 'opusscript opus (WASM, no Ogg)',
    run() {
      const e = new OpusScript(24000, 1, OpusScript.Application.AUDIO);
      e.setBitrate(32000);
      let bytes = 0;
      for (let o = 0; o + 480 <= signal.length; o += 480) bytes += e.encode(Buffer.from(signal.buffer, signal.byteOffset + o * 2, 960), 480).length;
      e.delete();
      return bytes;
    },
  },
  ours('flac'),
  ours('wav'),
];

function cpuSeconds(fn: () => number): { cpu: number; bytes: number } {
  const t0 = process.cpuUsage();
  const bytes = fn();
  const d = process.cpuUsage(t0);
  return { cpu: (d.user + d.system) / 1e6, bytes };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`# Encoders: ${SECONDS} s of 24 kHz mono in 200 ms chunks, ${process.env.OPUS_FORCE_WASM ? '@evan/opus WASM' : '@evan/opus native'}`);
for (const c of cases) c.run(); // warm-up: WASM compile, JIT
const results = new Map<string, { cpu: number[]; bytes: number }>();
for (let round = 0; round < 3; round++) {
  for (const c of cases) {
    const r = cpuSeconds(() => c.run());
    const entry = results.get(c.name) ?? { cpu: [], bytes: r.bytes };
    entry.cpu.push(r.cpu);
    results.set(c.name, entry);
  }
}
console.log('| encoder | × real time per core | % of a core per stream | kbit/s |');
console.log('|---|---|---|---|');
for (const [name, r] of results) {
  const cpu = median(r.cpu);
  console.log(`| ${name} | ${(SECONDS / cpu).toFixed(0)} | ${((100 * cpu) / SECONDS).toFixed(2)} | ${((r.bytes * 8) / SECONDS / 1000).toFixed(1)} |`);
}

// 2. Time to first byte through the gateway, mp3 vs pcm.
const fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.05, chunk_ms: 200 } });
const gateway = await createGateway({
  config: parseConfig({
    server: { host: '127.0.0.1', port: 0, engine: 'uws' },
    pools: [{ name: 'kokoro', backend: 'openai', model: 'kokoro', voices: ['af_heart'], instances: [{ id: 'sim-1', url: fleet.instances[0]!.url, max_concurrency: 8 }], health: { interval_ms: 60_000 } }],
  }),
});
const port = await gateway.listen();
const REQUESTS = Number(process.env.BENCH_TTFB_REQUESTS ?? 60);
const ttfb: Record<string, number[]> = { pcm: [], mp3: [], opus: [] };
const formats = Object.keys(ttfb);
// Formats in a shuffled order (fixed seed), with a pause after each response: a strict
// alternation measured an artefact (each format always following the same other one, the
// in-process simulator's timers of the previous stream still running).
const order = formats.flatMap((f) => Array.from({ length: REQUESTS + 1 }, () => f));
let seed = 42;
for (let i = order.length - 1; i > 0; i--) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  const j = seed % (i + 1);
  [order[i], order[j]] = [order[j]!, order[i]!];
}
const warm = new Set<string>();
for (const format of order) {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'kokoro', voice: 'alloy', input: 'Hello there, this is the first sentence. And a second one.', response_format: format }),
  });
  const reader = res.body!.getReader();
  await reader.read();
  const first = performance.now() - t0;
  while (!(await reader.read()).done);
  if (warm.has(format)) ttfb[format]!.push(first);
  else warm.add(format); // the first of each format warms up
  await new Promise((r) => setTimeout(r, 30));
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
console.log(`\n# Time to first byte through the gateway (uws), ${REQUESTS} requests per format, shuffled`);
console.log('| format | p50 ms | p90 ms | added p50 vs pcm ms |');
console.log('|---|---|---|---|');
for (const f of formats) console.log(`| ${f} | ${pct(ttfb[f]!, 50).toFixed(1)} | ${pct(ttfb[f]!, 90).toFixed(1)} | ${(pct(ttfb[f]!, 50) - pct(ttfb.pcm!, 50)).toFixed(1)} |`);
await gateway.close();
await fleet.close();
