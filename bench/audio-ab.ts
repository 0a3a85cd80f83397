/**
 * The audio output pipeline of two trees side by side in one process (issue #17 "Audio": the
 * resampler refactor must not make the pipeline slower). bench/audio.ts run once per tree lets
 * the machine's drift between runs decide (its unchanged rows moved 25 % between two runs here);
 * interleaved rounds in one process put the same load on both.
 *
 *   BEFORE_AUDIO=/path/to/other/checkout npx tsx bench/audio-ab.ts [--rounds 9] [--seconds 1]
 *
 * Each round runs, for each tree in turn (order alternating), 100 interleaved streams of 10 ms
 * chunks through createAudioOutput for 24 kHz s16 → 8 kHz μ-law 20 ms (the telephony path: WASM
 * FIR + fused μ-law) and 24 kHz → 16 kHz s16; prints the median over rounds of streams per core
 * (CPU time), and the per-round ratio's median.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' }, seconds: { type: 'string', default: '1' } } });
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const BEFORE = process.env.BEFORE_AUDIO;
if (!BEFORE) throw new Error('set BEFORE_AUDIO to the other checkout (its src/audio/output.ts is loaded)');

type Write = { write(pcm: { samples: Int16Array; sampleRate: number }): void };
type CreateOutput = (format: { encoding: string; sampleRate: number; frameMs: number }, onFrame: (f: Uint8Array) => void) => Write;

const load = async (root: string): Promise<CreateOutput> =>
  ((await import(pathToFileURL(resolve(root, 'src/audio/output.ts')).href)) as { createAudioOutput: CreateOutput }).createAudioOutput;
const trees: Array<[string, CreateOutput]> = [
  ['before', await load(BEFORE)],
  ['after', await load(resolve(import.meta.dirname, '..'))],
];

function testSignal(rate: number, seconds: number): Int16Array {
  const out = new Int16Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) {
    const t = i / rate;
    const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t);
    out[i] = Math.round(32767 * env * (0.35 * Math.sin(2 * Math.PI * 180 * t) + 0.2 * Math.sin(2 * Math.PI * 1230 * t) + 0.1 * Math.sin(2 * Math.PI * 2890 * t)));
  }
  return out;
}

const signal = testSignal(24000, 1);

/** Streams one core carries: audio seconds produced per CPU second. */
function streamsPerCore(create: CreateOutput, encoding: string, outRate: number): number {
  const chunk = 240;
  const streams = Array.from({ length: 100 }, () => create({ encoding, sampleRate: outRate, frameMs: 20 }, () => {}));
  let pos = 0;
  let s = 0;
  const step = () => {
    streams[s]!.write({ samples: signal.subarray(pos, pos + chunk), sampleRate: 24000 });
    s = (s + 1) % streams.length;
    if (s === 0) pos = pos + chunk >= signal.length ? 0 : pos + chunk;
  };
  for (let i = 0; i < 200; i++) step();
  let steps = 0;
  let cpu = 0;
  const wallStart = performance.now();
  while (performance.now() - wallStart < SECONDS * 1000) {
    const start = process.cpuUsage();
    for (let i = 0; i < 500; i++) step();
    const used = process.cpuUsage(start);
    cpu += (used.user + used.system) / 1e6;
    steps += 500;
  }
  return (steps * 0.01) / cpu;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cases: Array<[string, string, number]> = [
  ['24 kHz s16 → 8 kHz μ-law 20 ms (WASM FIR + fused μ-law)', 'pcm_mulaw', 8000],
  ['24 kHz s16 → 16 kHz s16 20 ms', 'pcm_s16le', 16000],
];
console.log(`audio A/B: before = ${BEFORE}, ${ROUNDS} interleaved rounds of ${SECONDS} s per tree and case, node ${process.version}`);
console.log('| case | before (streams/core, median) | after | after / before (median of per-round ratios) |');
console.log('|---|---|---|---|');
for (const [name, encoding, rate] of cases) {
  const got: Record<string, number[]> = { before: [], after: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? trees : [...trees].reverse();
    for (const [label, create] of order) got[label]!.push(streamsPerCore(create, encoding, rate));
  }
  const ratios = got.after!.map((a, i) => a / got.before![i]!);
  console.log(`| ${name} | ${Math.round(median(got.before!))} | ${Math.round(median(got.after!))} | ${median(ratios).toFixed(3)} |`);
}
