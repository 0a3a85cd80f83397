/**
 * Adapter overhead: streams/s and client CPU per stream of the openai and gradio adapters
 * against the simulator (synthetic audio, zero latency: first_audio_ms 0, rtf 0), side by
 * side with a bare undici request that reads the same body without decoding it.
 *
 *   npx tsx bench/backends.ts [--seconds 3] [--concurrency 1,16]
 *
 * The simulator runs in a child process (its CPU is not counted in "client CPU"); both share
 * the machine's two cores, so streams/s is a floor, CPU/stream the adapter's cost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { parseConfig, type PoolConfig } from '../src/config.ts';
import { Metrics } from '../src/metrics.ts';
import { createBackend } from '../src/backends/index.ts';
import type { Backend } from '../src/backends/backend.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '1,16' } } });
const SECONDS = Number(values.seconds);
const CONCURRENCY = values.concurrency.split(',').map(Number);
const TEXT = 'Thanks for calling, your appointment is confirmed for Tuesday.'; // 62 chars ≈ 4.3 s of audio

async function startSim(protocol: string): Promise<{ urls: string[]; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/sim/cli.ts', '--protocol', protocol, '--count', '1', '--base-port', '0', '--no-control', '--first-audio-ms', '0', '--rtf', '0', '--max', '100000', '--chunk-ms', '200'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const urls = await new Promise<string[]>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /VOICEGATE_INSTANCES=(\S+)/.exec(out);
      if (m) resolve(m[1]!.split(','));
    });
    child.once('exit', (code) => reject(new Error(`sim exited ${code}: ${out}`)));
  });
  return { urls, child };
}

function pool(backend: 'openai' | 'gradio', url: string, options: Record<string, unknown>): PoolConfig {
  return parseConfig({ pools: [{ name: 'bench', backend, model: 'kokoro', voices: ['af_heart'], instances: [{ id: 'b1', url }], timeouts: { first_audio_ms: 10_000, stall_ms: 10_000 }, options }] }).pools[0]!;
}

type Run = () => Promise<number>;

function backendRun(backend: Backend): Run {
  return async () => {
    let samples = 0;
    for await (const a of backend.synthesize({ text: TEXT, voice: 'af_heart' }, new AbortController().signal)) if ('samples' in a) samples += a.samples.length;
    return samples;
  };
}

function rawRun(url: string): { run: Run; close: () => Promise<void> } {
  const u = new URL(url);
  const dispatcher = new Pool(u.origin);
  const body = JSON.stringify({ model: 'kokoro', input: TEXT, voice: 'af_heart', response_format: 'pcm' });
  return {
    run: async () => {
      const res = await dispatcher.request({ path: '/v1/audio/speech', method: 'POST', headers: { 'content-type': 'application/json' }, body });
      let bytes = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) bytes += chunk.length;
      return bytes / 2;
    },
    close: () => dispatcher.close(),
  };
}

interface Row {
  variant: string;
  concurrency: number;
  streams: number;
  perSecond: number;
  p50: number;
  p99: number;
  cpuMsPerStream: number;
}

async function measure(variant: string, run: Run, concurrency: number): Promise<Row> {
  for (let i = 0; i < 20; i++) await run(); // warm up connections and JIT
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  let expected = -1;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        const samples = await run();
        if (expected < 0) expected = samples;
        else if (samples !== expected) throw new Error(`${variant}: ${samples} samples, expected ${expected}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  return {
    variant,
    concurrency,
    streams: latencies.length,
    perSecond: latencies.length / elapsed,
    p50: latencies[Math.floor(latencies.length * 0.5)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
    cpuMsPerStream: (cpu.user + cpu.system) / 1000 / latencies.length,
  };
}

async function main(): Promise<void> {
  const openaiSim = await startSim('openai');
  const gradioSim = await startSim('gradio');
  const metrics = new Metrics({ defaultMetrics: false });
  const url = openaiSim.urls[0]!;
  const raw = rawRun(url);
  const pcm = createBackend(pool('openai', url, { response_format: 'pcm' }), { id: 'b1', url, weight: 1, max_concurrency: 4 }, { metrics });
  const wav = createBackend(pool('openai', url, { response_format: 'wav' }), { id: 'b1', url, weight: 1, max_concurrency: 4 }, { metrics });
  const gurl = gradioSim.urls[0]!;
  const gradio = createBackend(pool('gradio', gurl, {}), { id: 'b1', url: gurl, weight: 1, max_concurrency: 4 }, { metrics });
  const variants: Array<[string, Run]> = [
    ['undici raw (no decode)', raw.run],
    ['openai adapter pcm', backendRun(pcm)],
    ['openai adapter wav', backendRun(wav)],
    ['gradio adapter (3 requests)', backendRun(gradio)],
  ];
  const rows: Row[] = [];
  try {
    for (const c of CONCURRENCY) for (const [name, run] of variants) rows.push(await measure(name, run, c));
  } finally {
    await Promise.all([raw.close(), pcm.close(), wav.close(), gradio.close()]);
    openaiSim.child.kill('SIGTERM');
    gradioSim.child.kill('SIGTERM');
  }
  console.log(`\nadapter overhead vs simulator (zero latency, ${TEXT.length} chars ≈ 4.3 s of 24 kHz audio per stream, ${SECONDS} s per row)\n`);
  console.log('| variant | concurrency | streams | streams/s | p50 ms | p99 ms | client CPU ms/stream |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.variant} | ${r.concurrency} | ${r.streams} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuMsPerStream.toFixed(3)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
