// Segmenter benchmark: throughput on 10 MB of mixed English and Chinese text fed whole and
// fed 1–8 characters at a time, side by side with Intl.Segmenter; golden-rules scores of both;
// time to the first segment of an LLM answer streamed at 50 tokens/s, eager first on and off.
//
//   npx tsx bench/segmenter.ts            (about a minute on 2 cores)
//   SEGMENTER_BENCH_MB=2 npx tsx bench/segmenter.ts   (smaller text)

import { readFileSync } from 'node:fs';
import { createSegmenter, type SegmenterOptions } from '../src/text/segmenter.ts';
import { createRng } from './rng.ts';

const TARGET_MB = Number(process.env.SEGMENTER_BENCH_MB ?? 10);
const RUNS = 3;

// ---- deterministic text ----


const rand = createRng(20240601);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
const int = (max: number): number => Math.floor(rand() * max);

const NAMES = ['Smith', 'Jones', 'Garcia', 'Chen', 'Müller', 'Okafor', 'Tanaka', 'Dubois'];
const NOUNS = ['report', 'invoice', 'server', 'meeting', 'package', 'ticket', 'account', 'flight'];
const WORDS = ['quickly', 'today', 'again', 'carefully', 'later', 'together', 'online', 'soon'];
const HAN = ['天气', '我们', '价格', '公司', '今天', '明天', '电话', '问题', '时间', '服务', '订单', '朋友'];

const ENGLISH: (() => string)[] = [
  () => `Dr. ${pick(NAMES)} reviewed the ${pick(NOUNS)} at ${1 + int(12)}:${10 + int(50)} p.m. on Jan. ${1 + int(28)}.`,
  () => `The price rose to $${int(1000)}.${10 + int(90)} in the U.S. last year, which surprised ${pick(NAMES)}.`,
  () => `Visit https://example.com/${pick(WORDS)}/v${int(9)}.${int(9)}/index.html for details.`,
  () => `${pick(NAMES)} said, "The ${pick(NOUNS)} is ready." Then the team moved on.`,
  () => `It was ${int(100)}.${int(10)}% higher, e.g. in Q${1 + int(4)}, than the ${pick(NOUNS)} forecast.`,
  () => `Email ${pick(WORDS)}.${pick(NOUNS)}@example.com if the ${pick(NOUNS)} fails again!`,
  () => `Is the ${pick(NOUNS)} done? Yes... it shipped ${pick(WORDS)}.`,
  () => `Mr. ${pick(NAMES)} and Mrs. ${pick(NAMES)} (both from the ${pick(NOUNS)} team) agreed ${pick(WORDS)}.`,
  () => `1. Check the ${pick(NOUNS)} 2. Restart the ${pick(NOUNS)} 3. Call ${pick(NAMES)}`,
  () => `\n- **${pick(NOUNS)}**: handled ${pick(WORDS)}\n- *${pick(NOUNS)}*: pending\n`,
  () => `Please read the ${pick(NOUNS)}, sign it, and send it back before ${1 + int(11)} a.m. tomorrow.`,
];
const CHINESE: (() => string)[] = [
  () => `${pick(HAN)}的${pick(HAN)}很好，我们${pick(HAN)}去看看吧。`,
  () => `价格是${int(1000)}.${int(100)}元！`,
  () => `你知道《${pick(HAN)}${pick(HAN)}！》这本书吗？`,
  () => `${pick(HAN)}、${pick(HAN)}和${pick(HAN)}都已经准备好了；请确认。`,
  () => `他说：“${pick(HAN)}${pick(HAN)}。”然后离开了。`,
];

function generateText(megabytes: number): string {
  const target = megabytes * 1024 * 1024;
  const parts: string[] = [];
  let bytes = 0;
  while (bytes < target) {
    const chinese = rand() < 0.35;
    const pool = chinese ? CHINESE : ENGLISH;
    const sentences = 2 + int(5);
    let paragraph = '';
    for (let s = 0; s < sentences; s++) paragraph += (chinese || s === 0 ? '' : ' ') + pick(pool)();
    paragraph += rand() < 0.3 ? '\n\n' : ' ';
    parts.push(paragraph);
    bytes += Buffer.byteLength(paragraph);
  }
  return parts.join('');
}

// ---- measurements ----

const RAW: SegmenterOptions = { eagerFirst: false };

function segmentWhole(text: string): string[] {
  const s = createSegmenter(RAW);
  const out = s.push(text);
  for (const seg of s.flush()) out.push(seg);
  return out;
}

function segmentChunks(chunks: readonly string[]): string[] {
  const s = createSegmenter(RAW);
  const out: string[] = [];
  for (const chunk of chunks) {
    const segs = s.push(chunk);
    for (let i = 0; i < segs.length; i++) out.push(segs[i]);
  }
  for (const seg of s.flush()) out.push(seg);
  return out;
}

function intlSegments(text: string, language: string): string[] {
  const out: string[] = [];
  for (const { segment } of new Intl.Segmenter(language, { granularity: 'sentence' }).segment(text)) {
    const trimmed = segment.trim();
    if (trimmed.length > 0) out.push(trimmed);
  }
  return out;
}

function best<T>(fn: () => T): { ms: number; result: T } {
  let ms = Infinity;
  let result!: T;
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    result = fn();
    ms = Math.min(ms, performance.now() - start);
  }
  return { ms, result };
}

function fingerprint(segments: readonly string[]): string {
  let h = 2166136261;
  for (const s of segments) for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return `${segments.length}/${(h >>> 0).toString(16)}`;
}

const text = generateText(TARGET_MB);
const mb = Buffer.byteLength(text) / (1024 * 1024);
const chunkRand = createRng(7);
const chunks: string[] = [];
for (let i = 0; i < text.length; ) {
  const size = 1 + Math.floor(chunkRand() * 8);
  chunks.push(text.slice(i, i + size));
  i += size;
}

// V8's Intl.Segmenter slows down quadratically on one large string (each step costs time in
// proportion to the text), so it gets the 10 MB paragraph by paragraph, as a caller would feed
// it; the whole-string behaviour is measured on a 128 KB prefix.
const paragraphs = text.split('\n\n');
const PREFIX_CHARS = 128 * 1024;
const prefix = text.slice(0, PREFIX_CHARS);
const prefixMb = Buffer.byteLength(prefix) / (1024 * 1024);

const whole = best(() => segmentWhole(text));
const streamed = best(() => segmentChunks(chunks));
const intl = best(() => {
  const out: string[] = [];
  for (const p of paragraphs) for (const s of intlSegments(p, 'en')) out.push(s);
  return out;
});
const prefixOurs = best(() => segmentWhole(prefix));
const prefixIntl = best(() => intlSegments(prefix, 'en'));
const same = fingerprint(whole.result) === fingerprint(streamed.result);

console.log(`\nThroughput: ${mb.toFixed(1)} MB UTF-8 (${(text.length / 1e6).toFixed(2)} M chars) of mixed English/Chinese, best of ${RUNS}`);
console.log('| feed | time ms | MB/s | segments | vs whole |');
console.log('|---|---:|---:|---:|---:|');
const row = (name: string, ms: number, count: number) =>
  console.log(`| ${name} | ${ms.toFixed(0)} | ${(mb / (ms / 1000)).toFixed(1)} | ${count} | ${(ms / whole.ms).toFixed(2)}× |`);
row('voicegate, whole text (one push)', whole.ms, whole.result.length);
row(`voicegate, 1–8 chars per push (${chunks.length} pushes)`, streamed.ms, streamed.result.length);
row(`Intl.Segmenter (ICU), per paragraph (${paragraphs.length} calls)`, intl.ms, intl.result.length);
console.log(`streamed segments identical to whole-text segments: ${same}`);
console.log(`\nOne ${(PREFIX_CHARS / 1024).toFixed(0)} K-char string (${prefixMb.toFixed(2)} MB), whole`);
console.log('| segmenter | time ms | MB/s |');
console.log('|---|---:|---:|');
console.log(`| voicegate | ${prefixOurs.ms.toFixed(1)} | ${(prefixMb / (prefixOurs.ms / 1000)).toFixed(1)} |`);
console.log(`| Intl.Segmenter | ${prefixIntl.ms.toFixed(1)} | ${(prefixMb / (prefixIntl.ms / 1000)).toFixed(2)} |`);

// ---- golden rules ----

interface GoldenCase {
  id: string;
  lang: string;
  input: string;
  expected: string[];
}
const golden = JSON.parse(readFileSync(new URL('../../shared/data/golden_rules.json', import.meta.url), 'utf8')) as GoldenCase[];
const score: Record<string, { ours: number; intl: number; total: number }> = {};
let ours = 0;
let theirs = 0;
for (const c of golden) {
  const expected = JSON.stringify(c.expected.map((s) => s.trim()));
  const seg = createSegmenter({ language: c.lang, eagerFirst: false });
  const got = JSON.stringify([...seg.push(c.input), ...seg.flush()]);
  const intlGot = JSON.stringify(intlSegments(c.input, c.lang));
  const s = (score[c.lang] ??= { ours: 0, intl: 0, total: 0 });
  s.total++;
  if (got === expected) {
    s.ours++;
    ours++;
  }
  if (intlGot === expected) {
    s.intl++;
    theirs++;
  }
}
console.log(`\nGolden rules (exact match, segments trimmed)`);
console.log('| language | cases | voicegate | Intl.Segmenter |');
console.log('|---|---:|---:|---:|');
for (const [lang, s] of Object.entries(score)) console.log(`| ${lang} | ${s.total} | ${s.ours} | ${s.intl} |`);
console.log(`| all | ${golden.length} | ${ours} | ${theirs} |`);

// ---- latency to the first segment ----

const ANSWERS = [
  'Sure, I can help you with that, and it should only take a minute. First, open the app and tap Settings.',
  'Your order number 4521 shipped on Jan. 5 via UPS, so it should arrive by Friday at 3 p.m. Anything else?',
  'Thanks for waiting. I checked your account and everything looks fine: the payment of $49.99 went through.',
  'Unfortunately the U.S. office is closed today, but our support team in Dublin can take your call until 6 p.m.',
  'Great question! The short answer is yes — you can change your plan at any time, and the price adjusts.',
  'Let me see what I can find about flights from Boston to Denver next Tuesday morning with a window seat.',
];
const TOKEN_CHARS = 4;
const TOKEN_MS = 20;

function firstSegmentMs(answer: string, eagerFirst: boolean): { ms: number; first: string } {
  const s = createSegmenter({ eagerFirst });
  for (let i = 0, token = 0; i < answer.length; i += TOKEN_CHARS, token++) {
    const out = s.push(answer.slice(i, i + TOKEN_CHARS));
    if (out.length > 0) return { ms: token * TOKEN_MS, first: out[0] };
  }
  const tokens = Math.ceil(answer.length / TOKEN_CHARS);
  return { ms: (tokens - 1) * TOKEN_MS, first: `${s.flush()[0]} (at flush)` };
}

console.log(`\nFirst segment latency: tokens of ${TOKEN_CHARS} chars every ${TOKEN_MS} ms (50 tokens/s), time from the first token to the first segment`);
console.log('| answer | eager first on | eager first off | first segment (eager on) |');
console.log('|---|---:|---:|---|');
let sumOn = 0;
let sumOff = 0;
for (const [n, answer] of ANSWERS.entries()) {
  const on = firstSegmentMs(answer, true);
  const off = firstSegmentMs(answer, false);
  sumOn += on.ms;
  sumOff += off.ms;
  console.log(`| ${n + 1} | ${on.ms} ms | ${off.ms} ms | ${on.first} |`);
}
console.log(`| mean | ${(sumOn / ANSWERS.length).toFixed(0)} ms | ${(sumOff / ANSWERS.length).toFixed(0)} ms | |`);
