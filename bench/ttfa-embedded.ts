/**
 * Time to first audio on the embedded espeak-ng engine, as a caller sees it:
 * `flush` sent → first binary audio frame received, for a short first sentence.
 *
 *   npx tsx bench/ttfa-embedded.ts [--calls 40] [--engine auto|uws|ws]
 *
 * Runs the default config (config/default.yaml: two espeak worker instances) on a loopback
 * port, one call at a time, and prints p50/p95/max next to the engine's own synthesis time
 * for the same sentence (measured on a bare EspeakWorker in the same run).
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { EspeakWorker } from '../src/backends/espeak-engine.ts';
import { loadConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '40' }, engine: { type: 'string', default: 'auto' } } });
const calls = Number(values.calls);
const SENTENCE = 'Hello there.';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function oneCall(url: string, text: string): Promise<number> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  ws.send(JSON.stringify({ type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 24000 } }));
  await new Promise((resolve) => ws.once('message', resolve)); // ready
  let flushedAt = 0;
  const first = new Promise<number>((resolve) => {
    ws.on('message', (_data, isBinary) => {
      if (isBinary) resolve(performance.now() - flushedAt);
    });
  });
  ws.send(JSON.stringify({ type: 'text', text }));
  flushedAt = performance.now();
  ws.send(JSON.stringify({ type: 'flush' }));
  const ms = await first;
  ws.close();
  return ms;
}

const config = loadConfig({ ...process.env, PORT: '0' });
config.server.host = '127.0.0.1';
config.server.engine = values.engine as 'auto' | 'uws' | 'ws';
const gateway = await createGateway({ config });
const port = await gateway.listen();
const url = `ws://127.0.0.1:${port}/v1/stream`;

// Warm-up: the first request per worker compiles and instantiates the WASM.
for (let i = 0; i < 4; i++) await oneCall(url, SENTENCE);
const through: number[] = [];
for (let i = 0; i < calls; i++) through.push(await oneCall(url, SENTENCE));
await gateway.close();

const worker = new EspeakWorker();
await worker.synthesize(SENTENCE, 'en-us');
const bare: number[] = [];
for (let i = 0; i < calls; i++) {
  const t = performance.now();
  await worker.synthesize(SENTENCE, 'en-us');
  bare.push(performance.now() - t);
}
await worker.close();

through.sort((a, b) => a - b);
bare.sort((a, b) => a - b);
const row = (name: string, xs: number[]) => `| ${name} | ${percentile(xs, 50).toFixed(1)} | ${percentile(xs, 95).toFixed(1)} | ${xs[xs.length - 1]!.toFixed(1)} |`;
console.log(`engine ${gateway.engine}, ${calls} calls, first sentence "${SENTENCE}"`);
console.log('| measured | p50 ms | p95 ms | max ms |\n|---|---|---|---|');
console.log(row('flush → first audio at the client (through the gateway)', through));
console.log(row('espeak-ng synthesis alone (bare worker, same sentence)', bare));
process.exit(0);
