/**
 * Audio pipeline benchmark: `npx tsx bench/audio.ts` (about a minute on 2 cores).
 *
 * 1. The session's output path, 24 kHz s16le → 8 kHz μ-law in 20 ms frames, fed in 10 ms
 *    chunks: real-time streams per core (audio seconds produced per CPU second), the median of
 *    3 rounds; then other format pairs. (The output path always resamples on the WASM kernel:
 *    src/audio/create-resampler.ts; the JS FIR is compared in part 2.)
 * 2. Resampler alone, ours vs libsamplerate (WASM) SRC_SINC_FASTEST and SRC_SINC_MEDIUM_QUALITY,
 *    same chunking, speed and quality with the same ruler (src/audio/analysis.ts).
 * 3. G.711 encode: our table codec vs the alawmulaw package.
 */
import libsamplerate from '@alexanderolsen/libsamplerate-js';
import * as alawmulawNs from 'alawmulaw';
import { measureResampler, type ResampleQualityReport } from '../src/audio/analysis.ts';
import { alawEncode, mulawEncode } from '../src/audio/g711.ts';
import { createAudioOutput } from '../src/audio/output.ts';
import { createResampler } from '../src/audio/create-resampler.ts';
import { PolyphaseResampler, polyphaseTable } from '../src/audio/polyphase.ts';
import type { Resampler } from '../src/audio/resampler.ts';
import type { Encoding, SampleRate } from '../src/audio/format.ts';

// Both packages are CommonJS/UMD under Node: take their exports from the default import.
const { ConverterType, create } = libsamplerate;
// alawmulaw ships ESM (`module`) and a UMD bundle (`main`); under Node's loader we get the latter.
const alawmulaw = ((alawmulawNs as unknown as { alaw?: unknown }).alaw ? alawmulawNs : (alawmulawNs as unknown as { default: typeof alawmulawNs }).default) as typeof alawmulawNs;

const SECONDS_PER_CASE = Number(process.env.BENCH_SECONDS ?? 3);

/** Speech-like test signal: a few harmonics with a slow envelope, plus content above 4 kHz. */
function testSignal(rate: number, seconds: number): Int16Array {
  const n = Math.round(rate * seconds);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t);
    const v = 0.35 * Math.sin(2 * Math.PI * 180 * t) + 0.2 * Math.sin(2 * Math.PI * 1230 * t) + 0.1 * Math.sin(2 * Math.PI * 2890 * t) + 0.1 * Math.sin(2 * Math.PI * 6100 * t);
    out[i] = Math.round(32767 * env * v);
  }
  return out;
}

function cpuSeconds(run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

/** Runs `step` (which processes `audioSecondsPerStep` of audio) for ~SECONDS_PER_CASE; returns real-time streams per core. */
function streamsPerCore(audioSecondsPerStep: number, step: () => void): number {
  for (let i = 0; i < 200; i++) step(); // warm-up: JIT and table building out of the timing
  let steps = 0;
  let cpu = 0;
  const wallStart = performance.now();
  while (performance.now() - wallStart < SECONDS_PER_CASE * 1000) {
    cpu += cpuSeconds(() => {
      for (let i = 0; i < 500; i++) step();
    });
    steps += 500;
  }
  return (steps * audioSecondsPerStep) / cpu;
}

const rows: string[][] = [];
function row(...cells: Array<string | number>): void {
  rows.push(cells.map(String));
  console.log(cells.join(' | '));
}

// ---------- 1. the output pipeline ----------
console.log('\n# 1. Output pipeline (resample → encode → frame), 10 ms input chunks, 100 interleaved streams');
function pipelineCase(inRate: number, encoding: Encoding, outRate: SampleRate, frameMs: number): number {
  const signal = testSignal(inRate, 1);
  const chunk = inRate / 100;
  const streams = Array.from({ length: 100 }, () => createAudioOutput({ encoding, sampleRate: outRate, frameMs }, () => {}));
  let pos = 0;
  let s = 0;
  return streamsPerCore(0.01, () => {
    streams[s].write({ samples: signal.subarray(pos, pos + chunk), sampleRate: inRate });
    s = (s + 1) % streams.length;
    if (s === 0) pos = pos + chunk >= signal.length ? 0 : pos + chunk;
  });
}
{
  const runs = [0, 1, 2].map(() => pipelineCase(24000, 'pcm_mulaw', 8000, 20)).sort((a, b) => a - b);
  const spc = runs[1];
  row('pipeline', '24000 s16 → 8000 pcm_mulaw 20 ms, WASM SIMD FIR + fused μ-law', `${Math.round(spc)} streams/core`, `${((1000 / spc) * 100).toFixed(1)} % of a core per 1,000 calls`, `runs ${runs.map(Math.round).join(' / ')}`);
}
const pipelineCases: Array<[number, Encoding, SampleRate, number]> = [
  [22050, 'pcm_mulaw', 8000, 20],
  [24000, 'pcm_s16le', 16000, 20],
  [24000, 'pcm_s16le', 24000, 20],
  [16000, 'pcm_s16le', 48000, 20],
];
for (const [a, enc, b, ms] of pipelineCases) {
  const spc = pipelineCase(a, enc, b, ms);
  row('pipeline', `${a} s16 → ${b} ${enc} ${ms} ms`, `${Math.round(spc)} streams/core`, `${((1000 / spc) * 100).toFixed(1)} % of a core per 1,000 calls`);
}

// ---------- 2. resampler vs libsamplerate ----------
console.log('\n# 2. Resampler 24 kHz → 8 kHz, 10 ms chunks: speed and quality side by side');
const IN = 24000;
const OUT = 8000;
const chunk24 = testSignal(IN, 1);
type Make = () => Resampler;
function oneShotWith(make: Make) {
  return (x: Int16Array): Int16Array => {
    const r = make();
    const a = r.process(x);
    const b = r.flush();
    const out = new Int16Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };
}
const report = (name: string, speed: number, q: ResampleQualityReport): void =>
  row(
    'resampler',
    name,
    `${Math.round(speed)} streams/core`,
    `in-band SNR ${q.inBandSnrDb.toFixed(1)} dB (worst @ ${q.worstInBandHz} Hz)`,
    // below one LSB the output rounds to exact zeros: report the 16-bit floor, not −300 dB
    `>4 kHz ${q.aliasRejectionDb < -96 ? '< −96 (silent)' : q.aliasRejectionDb.toFixed(1)} dB (worst @ ${q.worstAliasHz} Hz)`,
    `ripple 0–3.4 kHz ${q.passbandRippleDb.toFixed(3)} dB`,
  );
const t = polyphaseTable(IN, OUT);
for (const [name, make] of [
  [`voicegate WASM SIMD polyphase FIR (${t.taps} taps/output, default)`, () => createResampler(IN, OUT)],
  [`voicegate JS polyphase FIR (${t.taps} taps/output; only where WASM SIMD is missing)`, () => new PolyphaseResampler(t)],
] as Array<[string, Make]>) {
  const ours = make();
  const oursOut = new Int16Array(ours.maxOutput(240));
  let p24 = 0;
  const speed = streamsPerCore(0.01, () => {
    ours.processInto(chunk24.subarray(p24, p24 + 240), oursOut);
    p24 = p24 + 240 >= chunk24.length ? 0 : p24 + 240;
  });
  report(name, speed, measureResampler(oneShotWith(make), IN, OUT, 3400, 50));
}

for (const [name, type] of [
  ['libsamplerate SRC_SINC_FASTEST', ConverterType.SRC_SINC_FASTEST],
  ['libsamplerate SRC_SINC_MEDIUM_QUALITY', ConverterType.SRC_SINC_MEDIUM_QUALITY],
] as const) {
  const src = await create(1, IN, OUT, { converterType: type });
  const f32 = new Float32Array(240);
  const dst = new Float32Array(200);
  const i16 = new Int16Array(200);
  const len = { frames: 0 };
  let p = 0;
  // Same job as ours: Int16 in, Int16 out (conversions counted, as the pipeline would need them).
  const speed = streamsPerCore(0.01, () => {
    for (let i = 0; i < 240; i++) f32[i] = chunk24[p + i] / 32768;
    src.full(f32, dst, len);
    for (let i = 0; i < len.frames; i++) {
      const v = Math.round(dst[i] * 32768);
      i16[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
    p = p + 240 >= chunk24.length ? 0 : p + 240;
  });
  src.destroy();
  const oneShot = await create(1, IN, OUT, { converterType: type });
  const quality = measureResampler(
    (x) => {
      const f = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) f[i] = x[i] / 32768;
      const y = oneShot.simple(f);
      return Int16Array.from(y, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))));
    },
    IN,
    OUT,
    3400,
    50,
  );
  oneShot.destroy();
  report(name, speed, quality);
}

// ---------- 3. G.711 ----------
console.log('\n# 3. G.711 encode, 1 s buffers (8000 samples) per call');
const frame = testSignal(8000, 1);
const g711Cases: Array<[string, (s: Int16Array) => Uint8Array]> = [
  ['μ-law voicegate table', mulawEncode],
  ['μ-law alawmulaw', (s) => alawmulaw.mulaw.encode(s)],
  ['A-law voicegate table', alawEncode],
  ['A-law alawmulaw', (s) => alawmulaw.alaw.encode(s)],
];
for (const [name, encode] of g711Cases) {
  const spc = streamsPerCore(1, () => {
    encode(frame);
  });
  row('g711', name, `${((spc * 8000) / 1e6).toFixed(1)} M samples/s`, `${Math.round(spc)} streams/core (8 kHz)`);
}

console.log('\n| part | case | speed | … |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
