/**
 * The embedded engine under a huge token (issue 18, finding 1), side by side in one run:
 * 99,000 digits on one espeak worker, then
 *   A. "wait": a short sentence queued behind it (what a worker that cannot be interrupted
 *      costs the next caller: the pre-issue-18 behaviour of a cancelled synthesis);
 *   B. "cancel": the huge synthesis cancelled after 100 ms (its thread terminated and replaced),
 *      then the same short sentence;
 * plus the health probe's latency while the huge synthesis runs, and RSS.
 *
 *   npx tsx bench/hostile-espeak.ts [--rounds 3]
 */
import { EspeakWorker } from '../src/backends/espeak-engine.ts';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
const huge = Array.from({ length: 99_000 }, (_, i) => String((i * 7 + 3) % 10)).join('');
const SHORT = 'Thank you for calling, how can I help you today?';
const mb = () => Math.round(process.memoryUsage().rss / 1024 / 1024);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (xs: number[]) => xs.map((x) => Math.round(x)).join(', ');

const worker = new EspeakWorker();
await worker.whenWarm();
const rssStart = mb();
const waited: number[] = [];
const cancelled: number[] = [];
const probes: number[] = [];
let rssPeak = rssStart;
for (let r = 0; r < rounds; r++) {
  // A: the short sentence waits behind the huge one.
  const hugeA = worker.synthesize(huge, 'en-us');
  await sleep(100);
  const p0 = performance.now();
  await worker.ping();
  probes.push(performance.now() - p0);
  const a0 = performance.now();
  await worker.synthesize(SHORT, 'en-us');
  waited.push(performance.now() - a0);
  await hugeA;
  rssPeak = Math.max(rssPeak, mb());
  // B: cancel the huge one; the short sentence runs on a fresh thread.
  const controller = new AbortController();
  const hugeB = worker.synthesize(huge, 'en-us', 1, controller.signal).catch(() => null);
  await sleep(100);
  controller.abort();
  await hugeB;
  const b0 = performance.now();
  await worker.synthesize(SHORT, 'en-us');
  cancelled.push(performance.now() - b0);
}
await sleep(500);
const rssEnd = mb();
await worker.close();
console.log(`rounds ${rounds}`);
console.log(`A wait behind 99,000 digits: short sentence took ${fmt(waited)} ms`);
console.log(`B cancel (terminate + warm respawn): short sentence took ${fmt(cancelled)} ms`);
console.log(`health probe during the huge synthesis: ${fmt(probes)} ms`);
console.log(`RSS MB: start ${rssStart}, peak ${rssPeak}, end ${rssEnd}`);
