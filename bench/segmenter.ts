// Segmenter benchmark, before and after in one run: throughput of the segmenter on this tree
// and on main before issue 25 (its src/text loaded from git into a temp dir, never copied
// into the repository) on ~1 MB of mixed-language LLM-like text (15 languages, 9 scripts) fed
// whole and in 1–4 character pieces; the same for the 10 MB English/Chinese text with
// Intl.Segmenter beside it; golden-rules and pySBD language scores of both; time to the first
// segment of an LLM answer streamed at 50 tokens/s. Times are the best wall clock and the best
// CPU time of the rounds; on a loaded machine the CPU time is the steadier.
//
//   npx tsx bench/segmenter.ts                       (about a minute on 2 cores)
//   SEGMENTER_BENCH_MB=2 npx tsx bench/segmenter.ts  (size of the English/Chinese text)
//   SEGMENTER_BEFORE=<git ref> npx tsx bench/segmenter.ts   (default: main before issue 25, 7df983a830)

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSegmenter as createAfter, type Segmenter, type SegmenterOptions } from '../src/text/segmenter.ts';
import { createRng } from './rng.ts';

const TARGET_MB = Number(process.env.SEGMENTER_BENCH_MB ?? 10);
const RUNS = 3;
/** The mixed text is small (~50 ms a pass): more rounds to see through a loaded machine. */
const MIXED_RUNS = 15;

// ---- the segmenter before this branch, loaded from git ----

const repo = new URL('..', import.meta.url).pathname;
const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' });
/** main just before issue 25 (the segmenter the issue's targets compare against). */
const PRE_ISSUE_25 = '7df983a830';
const beforeRef = process.env.SEGMENTER_BEFORE ?? PRE_ISSUE_25;
const beforeDir = mkdtempSync(join(tmpdir(), 'segmenter-before-'));
process.on('exit', () => rmSync(beforeDir, { recursive: true, force: true }));
for (const file of git('ls-tree', '-r', '--name-only', beforeRef, 'src/text').split('\n')) {
  if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
  const target = join(beforeDir, file);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, git('show', `${beforeRef}:${file}`));
}
// Loaded as this repository's modules are (ESM, its tsconfig): tsx compiles a .ts file outside
// a "type": "module" package as CommonJS with other settings, which alone made it 2–4× slower.
writeFileSync(join(beforeDir, 'package.json'), '{"type":"module"}\n');
writeFileSync(join(beforeDir, 'tsconfig.json'), readFileSync(new URL('../tsconfig.json', import.meta.url)));
const before = (await import(pathToFileURL(join(beforeDir, 'src/text/segmenter.ts')).href)) as {
  createSegmenter: (options?: SegmenterOptions) => Segmenter;
};
const createBefore = before.createSegmenter;
type Create = typeof createAfter;

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

const MULTI: Record<string, (() => string)[]> = {
  en: ENGLISH,
  zh: CHINESE,
  de: [
    () => `Dr. ${pick(NAMES)} prüft z. B. die Rechnung Nr. ${int(900)} am ${1 + int(28)}. Juni.`,
    () => `„Das Paket ist da.“ Danach ging ${pick(NAMES)} nach Hause.`,
    () => `Der Preis stieg um ${int(100)},${int(10)} % bzw. ${int(50)} Euro. Warum?`,
  ],
  es: [
    () => `La Srta. ${pick(NAMES)} vive en EE. UU. desde ${1990 + int(30)}.`,
    () => `¿Dónde está el pedido núm. ${int(900)}? ¡Aquí está!`,
    () => `«Todo listo», dijo el Sr. ${pick(NAMES)}. Luego salió.`,
  ],
  fr: [
    () => `M. ${pick(NAMES)} arrive à ${int(24)} h. Il attend « le colis ».`,
    () => `Voir p. ${int(300)} et chap. ${int(20)}. C'est tout !`,
  ],
  it: [
    () => `Il Dott. ${pick(NAMES)} ha chiamato il rif. ${int(99999)}. Grazie!`,
    () => `Sono l'Ing. ${pick(NAMES)}, piacere. Arrivo alle ${int(24)}.`,
  ],
  pt: [() => `O Sr. ${pick(NAMES)} enviou o pedido nº ${int(900)}. Obrigado!`, () => `Você recebeu? Sim, ontem.`],
  ru: [
    () => `Проф. ${pick(NAMES)} живёт на ул. Ленина, д. ${int(90)}. Он занят.`,
    () => `«Ты готов? – спросила мама. – Завтра выходной». Он кивнул.`,
    () => `В ${1900 + int(120)} г. завод открылся. Что дальше?`,
  ],
  ja: [() => `これはペンです。「はい。」と言った。`, () => `価格は３．２９％です！本当ですか？`],
  ko: [() => `네, 도와드리겠습니다. 주문 번호는 ${int(9000)}입니다.`, () => `정말요? 감사합니다!`],
  hi: [() => `ज़रूर, मैं आपकी मदद करूँगा। आपका ऑर्डर ${int(900)} भेज दिया गया है।`],
  ar: [() => `سؤال وجواب: كيف حالك؟ أنا بخير، شكراً.`, () => `تم شحن الطلب رقم ${int(900)} اليوم.`],
  el: [() => `Πού είναι το πακέτο; Εδώ, στο γραφείο.`],
  hy: [() => `Բարև Ձեզ: Ձեր պատվերը ուղարկված է:`],
  pl: [() => `Dr ${pick(NAMES)} mieszka przy ul. Długiej ${int(90)}, tj. w centrum. Dziękuję.`],
};
const MULTI_LANGUAGES = Object.keys(MULTI);

/** Paragraphs of one language each, English and Chinese most often (as a voice fleet sees). */
function generateMixed(megabytes: number): string {
  const target = megabytes * 1024 * 1024;
  const parts: string[] = [];
  let bytes = 0;
  while (bytes < target) {
    const language = rand() < 0.3 ? 'en' : rand() < 0.2 ? 'zh' : pick(MULTI_LANGUAGES);
    const spaced = language !== 'zh' && language !== 'ja';
    let paragraph = '';
    for (let s = 0, n = 2 + int(5); s < n; s++) paragraph += (spaced && s > 0 ? ' ' : '') + pick(MULTI[language])();
    paragraph += rand() < 0.3 ? '\n\n' : ' ';
    parts.push(paragraph);
    bytes += Buffer.byteLength(paragraph);
  }
  return parts.join('');
}

// ---- measurements ----

function segmentWhole(create: Create, text: string, language: string): string[] {
  const s = create({ eagerFirst: false, language });
  // push() returns a read-only array (a shared empty one when nothing completed).
  return s.push(text).concat(s.flush());
}

// One feeding loop per segmenter, as a session has one segmenter class: a loop shared by both
// classes makes its push() call site polymorphic, a cost paid on every one of the 311,168
// pushes and not on the one push of whole text.
function segmentChunksBefore(chunks: readonly string[], language: string): string[] {
  const s = createBefore({ eagerFirst: false, language });
  const out: string[] = [];
  for (const chunk of chunks) {
    const segs = s.push(chunk);
    for (let i = 0; i < segs.length; i++) out.push(segs[i]);
  }
  for (const seg of s.flush()) out.push(seg);
  return out;
}
function segmentChunksAfter(chunks: readonly string[], language: string): string[] {
  const s = createAfter({ eagerFirst: false, language });
  const out: string[] = [];
  for (const chunk of chunks) {
    const segs = s.push(chunk);
    for (let i = 0; i < segs.length; i++) out.push(segs[i]);
  }
  for (const seg of s.flush()) out.push(seg);
  return out;
}

// A session hands each segment on and keeps none; these count each segment and its characters
// and drop it. Keeping all 32,000 segments (as the loops above
// do) costs scavenges that copy them, and more when they are fed in pieces: each is then a
// slice of its own flattened buffer rather than of the one input string.
function foldWhole(create: Create, text: string, language: string): string[] {
  const s = create({ eagerFirst: false, language });
  const f = newFold();
  fold(f, s.push(text));
  fold(f, s.flush());
  return [`${f.count}/${f.chars}`];
}
function foldChunksBefore(chunks: readonly string[], language: string): string[] {
  const s = createBefore({ eagerFirst: false, language });
  const f = newFold();
  for (const chunk of chunks) fold(f, s.push(chunk));
  fold(f, s.flush());
  return [`${f.count}/${f.chars}`];
}
function foldChunksAfter(chunks: readonly string[], language: string): string[] {
  const s = createAfter({ eagerFirst: false, language });
  const f = newFold();
  for (const chunk of chunks) fold(f, s.push(chunk));
  fold(f, s.flush());
  return [`${f.count}/${f.chars}`];
}
interface Fold {
  count: number;
  chars: number;
}
const newFold = (): Fold => ({ count: 0, chars: 0 });
function fold(f: Fold, segments: readonly string[]): void {
  for (let k = 0; k < segments.length; k++) f.chars += segments[k].length;
  f.count += segments.length;
}

function intlSegments(text: string, language: string): string[] {
  const out: string[] = [];
  for (const { segment } of new Intl.Segmenter(language, { granularity: 'sentence' }).segment(text)) {
    const trimmed = segment.trim();
    if (trimmed.length > 0) out.push(trimmed);
  }
  return out;
}

const countAndChars = (segments: readonly string[]): string => `${segments.length}/${segments.reduce((t, x) => t + x.length, 0)}`;

function fingerprint(segments: readonly string[]): string {
  let h = 2166136261;
  for (const s of segments) for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return `${segments.length}/${(h >>> 0).toString(16)}`;
}

function pieces(text: string, seed: number, maxPiece: number): string[] {
  const r = createRng(seed);
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    const size = 1 + Math.floor(r() * maxPiece);
    out.push(text.slice(i, i + size));
    i += size;
  }
  return out;
}

interface Variant {
  name: string;
  run: () => string[];
}

interface Timing {
  name: string;
  /** Best wall-clock time of the runs. */
  ms: number;
  /**
   * Best CPU time of the runs (process.cpuUsage, user + system, all threads: GC helpers count).
   * On a shared, loaded machine the wall clock also counts the time other processes held the
   * cores; CPU time does not, so it is the steadier of the two for a ratio.
   */
  cpu: number;
  result: string[];
}

/** Best of `runs`, the variants interleaved in every round so that machine drift hits all alike. */
function measure(variants: Variant[], runs: number): Timing[] {
  const best = variants.map((v): Timing => ({ name: v.name, ms: Infinity, cpu: Infinity, result: [] }));
  for (let r = 0; r < runs; r++) {
    for (const [i, v] of variants.entries()) {
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      const result = v.run();
      const ms = performance.now() - start;
      const used = process.cpuUsage(cpuStart);
      const cpu = (used.user + used.system) / 1000;
      if (ms < best[i].ms) best[i].ms = ms;
      if (cpu < best[i].cpu) best[i].cpu = cpu;
      best[i].result = result;
    }
  }
  return best;
}

/** Ratios as "wall / CPU". */
const ratio = (a: Timing, b: Timing | undefined): string => (b ? `${(a.ms / b.ms).toFixed(2)}× / ${(a.cpu / b.cpu).toFixed(2)}×` : '—');

function table(title: string, mb: number, rows: Timing[], base: Record<string, Timing>): void {
  console.log(`\n${title}`);
  console.log('| segmenter, feed | wall ms | CPU ms | MB/s (wall) | segments | vs its whole (wall / CPU) | vs before (wall / CPU) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const [who, ...rest] = r.name.split(', ');
    const feed = rest.join(', ');
    const dropped = feed.endsWith('segments dropped');
    const whole = rows.find((x) => x.name === `${who}, whole${dropped ? ', segments dropped' : ''}`)!;
    console.log(
      `| ${r.name} | ${r.ms.toFixed(0)} | ${r.cpu.toFixed(0)} | ${(mb / (r.ms / 1000)).toFixed(1)} | ${dropped ? r.result[0].split('/')[0] : r.result.length} | ${ratio(r, whole)} | ${ratio(r, base[feed])} |`,
    );
  }
}

console.log(`before: ${beforeRef.slice(0, 10)} (src/text from git), after: this tree. Node ${process.version}.`);

// ~1 MB of mixed-language text, language 'auto' (before: no such language, English rules).
{
  const mixed = generateMixed(1);
  if (process.env.SEGMENTER_DUMP) writeFileSync(process.env.SEGMENTER_DUMP, mixed);
  const mb = Buffer.byteLength(mixed) / (1024 * 1024);
  const chunks = pieces(mixed, 11, 4);
  const rows = measure(
    [
      { name: 'before, whole', run: () => segmentWhole(createBefore, mixed, 'auto') },
      { name: 'after, whole', run: () => segmentWhole(createAfter, mixed, 'auto') },
      { name: 'before, 1–4 char pieces', run: () => segmentChunksBefore(chunks, 'auto') },
      { name: 'after, 1–4 char pieces', run: () => segmentChunksAfter(chunks, 'auto') },
      { name: 'after (language en), whole', run: () => segmentWhole(createAfter, mixed, 'en') },
      { name: 'before, whole, segments dropped', run: () => foldWhole(createBefore, mixed, 'auto') },
      { name: 'after, whole, segments dropped', run: () => foldWhole(createAfter, mixed, 'auto') },
      { name: 'before, 1–4 char pieces, segments dropped', run: () => foldChunksBefore(chunks, 'auto') },
      { name: 'after, 1–4 char pieces, segments dropped', run: () => foldChunksAfter(chunks, 'auto') },
    ],
    MIXED_RUNS,
  );
  const base = { whole: rows[0], '1–4 char pieces': rows[2], 'whole, segments dropped': rows[5], '1–4 char pieces, segments dropped': rows[7] };
  table(
    `Mixed-language text: ${mb.toFixed(2)} MB UTF-8 (${(mixed.length / 1e6).toFixed(2)} M chars, ${MULTI_LANGUAGES.length} languages), language auto, ${chunks.length} pieces of 1–4 chars, best of ${MIXED_RUNS}`,
    mb,
    rows,
    base,
  );
  console.log(
    `pieces give the whole-text segments: before ${fingerprint(rows[0].result) === fingerprint(rows[2].result)}, after ${fingerprint(rows[1].result) === fingerprint(rows[3].result)}; dropping consumers saw the same: ${[5, 6, 7, 8].map((i) => rows[i].result[0] === countAndChars(rows[i % 2 === 1 ? 0 : 1].result)).join(', ')}`,
  );
}

// The 10 MB English/Chinese text of the earlier runs, with Intl.Segmenter beside it.
if (process.env.SEGMENTER_BENCH_PER_LANGUAGE) {
  for (const language of MULTI_LANGUAGES) {
    let t = '';
    while (t.length < 300_000) t += pick(MULTI[language])() + (language === 'zh' || language === 'ja' ? '' : ' ');
    const rows = measure(
      [
        { name: 'en', run: () => segmentWhole(createAfter, t, 'en') },
        { name: 'auto', run: () => segmentWhole(createAfter, t, 'auto') },
        { name: 'before', run: () => segmentWhole(createBefore, t, 'en') },
      ],
      7,
    );
    console.log(language, rows.map((r) => `${r.name} ${r.ms.toFixed(1)} ms ${r.result.length}`).join(' | '));
  }
}
if (process.env.SEGMENTER_BENCH_QUICK) process.exit(0);
{
  const text = generateText(TARGET_MB);
  const mb = Buffer.byteLength(text) / (1024 * 1024);
  const chunks = pieces(text, 7, 4);
  const paragraphs = text.split('\n\n');
  const rows = measure(
    [
      { name: 'before, whole', run: () => segmentWhole(createBefore, text, 'en') },
      { name: 'after, whole', run: () => segmentWhole(createAfter, text, 'en') },
      { name: 'before, 1–4 char pieces', run: () => segmentChunksBefore(chunks, 'en') },
      { name: 'after, 1–4 char pieces', run: () => segmentChunksAfter(chunks, 'en') },
    ],
    RUNS,
  );
  table(`English/Chinese text: ${mb.toFixed(1)} MB UTF-8 (${(text.length / 1e6).toFixed(2)} M chars), language en, best of ${RUNS}`, mb, rows, {
    whole: rows[0],
    '1–4 char pieces': rows[2],
  });
  console.log(`pieces give the whole-text segments (after): ${fingerprint(rows[1].result) === fingerprint(rows[3].result)}`);
  const [intl] = measure([{ name: 'Intl', run: () => paragraphs.flatMap((p) => intlSegments(p, 'en')) }], 1);
  console.log(`Intl.Segmenter (ICU) per paragraph (${paragraphs.length} calls): ${intl.ms.toFixed(0)} ms, ${(mb / (intl.ms / 1000)).toFixed(1)} MB/s`);
}

// ---- rule scores ----

interface Case {
  id: string;
  lang: string;
  input: string;
  expected: string[];
}
const data = (name: string) => JSON.parse(readFileSync(new URL(`../../shared/data/${name}`, import.meta.url), 'utf8')) as Case[];
function score(cases: Case[], create: Create | null): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const c of cases) {
    const expected = JSON.stringify(c.expected.map((s) => s.trim()));
    const got = create ? segmentWhole(create, c.input, c.lang) : intlSegments(c.input, c.lang);
    const s = (out[c.lang] ??= [0, 0]);
    s[1]++;
    if (JSON.stringify(got) === expected) s[0]++;
  }
  return out;
}
for (const name of ['golden_rules.json', 'pysbd_lang_cases.json']) {
  const cases = data(name);
  const b = score(cases, createBefore);
  const a = score(cases, createAfter);
  const i = score(cases, null);
  const sum = (s: Record<string, [number, number]>) => Object.values(s).reduce((t, [p]) => t + p, 0);
  console.log(`\n${name} (exact match of trimmed segments, eager first off)`);
  console.log('| language | cases | before | after | Intl.Segmenter |');
  console.log('|---|---:|---:|---:|---:|');
  for (const lang of Object.keys(a)) console.log(`| ${lang} | ${a[lang][1]} | ${b[lang][0]} | ${a[lang][0]} | ${i[lang][0]} |`);
  console.log(`| all | ${cases.length} | ${sum(b)} | ${sum(a)} | ${sum(i)} |`);
}

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

function firstSegmentMs(create: Create, answer: string, eagerFirst: boolean): { ms: number; first: string } {
  const s = create({ eagerFirst });
  for (let i = 0, token = 0; i < answer.length; i += TOKEN_CHARS, token++) {
    const out = s.push(answer.slice(i, i + TOKEN_CHARS));
    if (out.length > 0) return { ms: token * TOKEN_MS, first: out[0] };
  }
  const tokens = Math.ceil(answer.length / TOKEN_CHARS);
  return { ms: (tokens - 1) * TOKEN_MS, first: `${s.flush()[0]} (at flush)` };
}

console.log(`\nFirst segment latency: tokens of ${TOKEN_CHARS} chars every ${TOKEN_MS} ms (50 tokens/s), time from the first token to the first segment`);
console.log('| answer | eager on, before | eager on, after | eager off, before | eager off, after | first segment (after, eager on) |');
console.log('|---|---:|---:|---:|---:|---|');
for (const [n, answer] of ANSWERS.entries()) {
  const cells = [
    firstSegmentMs(createBefore, answer, true),
    firstSegmentMs(createAfter, answer, true),
    firstSegmentMs(createBefore, answer, false),
    firstSegmentMs(createAfter, answer, false),
  ];
  console.log(`| ${n + 1} | ${cells.map((c) => `${c.ms} ms`).join(' | ')} | ${cells[1].first} |`);
}
