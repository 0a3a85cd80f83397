/**
 * OpenAI-compatible HTTP API benchmark (issue 8): POST /v1/audio/speech through voicegate
 * versus the same request straight to the simulator, side by side in one run.
 *
 *   npx tsx bench/http-speech.ts            # 8 s per autocannon run, 400 TTFB requests per target
 *   npx tsx bench/http-speech.ts --quick    # 3 s, 120 requests
 *
 * Three processes so the load generator, the gateway and the fake GPU do not share an event
 * loop: this script (autocannon and the TTFB loop), a simulator child (one openai-protocol
 * instance, 20 ms to first audio, RTF 0.02, no concurrency cap) and two gateway children
 * (engine uws and ws, one pool on that instance; idle while the other is measured). Same body, same concurrency for both targets:
 *   - autocannon: requests/s and full-response latency (the whole ~4 s clip of pcm);
 *   - an undici loop: time to first body byte, which is what a caller hears first.
 * The gateway's added latency is the difference between the two columns.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Agent, request } from 'undici';

const quick = process.argv.includes('--quick');
const role = process.argv.find((a) => a.startsWith('--role='))?.slice('--role='.length);
const DURATION_S = quick ? 3 : 8;
const TTFB_REQUESTS = quick ? 120 : 400;
const CONNECTIONS = 10;
const KEY = 'sk-bench';
const INPUT = 'Hello there, this is a benchmark of the speech endpoint.';
const BODY = JSON.stringify({ model: 'kokoro', voice: 'af_heart', input: INPUT, response_format: 'pcm' });

// ---- child roles ---------------------------------------------------------------------------

async function runSim(): Promise<void> {
  const { startSimFleet } = await import('../src/sim/fleet.ts');
  const fleet = await startSimFleet({
    count: 1,
    protocol: 'openai',
    controlPort: null,
    latency: { first_audio_ms: 20, rtf: 0.02, chunk_ms: 100, comfortable: 10_000, max: 10_000 },
  });
  process.send!({ url: fleet.instances[0]!.url });
}

async function runGateway(simUrl: string, engine: 'uws' | 'ws'): Promise<void> {
  const { parseConfig } = await import('../src/config.ts');
  const { createGateway } = await import('../src/gateway.ts');
  const gateway = await createGateway({
    config: parseConfig({
      server: { host: '127.0.0.1', port: 0, engine },
      auth: { api_keys: [KEY] },
      pools: [{ name: 'kokoro', backend: 'openai', model: 'kokoro', voices: ['af_heart'], instances: [{ id: 'sim-1', url: simUrl, max_concurrency: 1000 }] }],
    }),
  });
  const port = await gateway.listen();
  process.send!({ url: `http://127.0.0.1:${port}`, engine: gateway.engine });
}

function spawn(args: string[]): Promise<{ child: ChildProcess; info: { url: string; engine?: string } }> {
  const child = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (info) => resolve({ child, info: info as { url: string; engine?: string } }));
    child.once('exit', (code) => reject(new Error(`child ${args.join(' ')} exited with ${code}`)));
  });
}

// ---- measurements --------------------------------------------------------------------------

interface CannonFigures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function cannon(url: string): Promise<CannonFigures> {
  const result = await autocannon({
    url: `${url}/v1/audio/speech`,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: BODY,
    connections: CONNECTIONS,
    duration: DURATION_S,
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

interface TtfbFigures {
  p50: number;
  p90: number;
  p99: number;
  total: number;
  bytes: number;
}

/** Time to the first body byte and to the end, CONNECTIONS requests in flight at a time. */
async function ttfbLoop(url: string): Promise<TtfbFigures> {
  const dispatcher = new Agent({ connections: CONNECTIONS, pipelining: 1 });
  const firsts: number[] = [];
  const totals: number[] = [];
  let bytes = 0;
  let next = 0;
  const worker = async () => {
    while (next < TTFB_REQUESTS) {
      next++;
      const t0 = performance.now();
      const res = await request(`${url}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body: BODY,
        dispatcher,
      });
      if (res.statusCode !== 200) throw new Error(`${url}: status ${res.statusCode}: ${await res.body.text()}`);
      let first = -1;
      for await (const chunk of res.body) {
        if (first < 0) first = performance.now() - t0;
        bytes += (chunk as Buffer).length;
      }
      firsts.push(first);
      totals.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  await dispatcher.close();
  firsts.sort((a, b) => a - b);
  totals.sort((a, b) => a - b);
  return { p50: percentile(firsts, 50), p90: percentile(firsts, 90), p99: percentile(firsts, 99), total: percentile(totals, 50), bytes: bytes / TTFB_REQUESTS };
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const sim = await spawn(['--role=sim']);
  const gateways = [await spawn(['--role=gateway', `--sim=${sim.info.url}`, '--engine=uws']), await spawn(['--role=gateway', `--sim=${sim.info.url}`, '--engine=ws'])];
  const stop = () => {
    for (const gw of gateways) gw.child.kill();
    sim.child.kill();
  };
  try {
    const targets = [{ name: 'simulator direct', url: sim.info.url }, ...gateways.map((gw) => ({ name: `voicegate (${gw.info.engine})`, url: gw.info.url }))];
    // Warm both paths (connections, JIT) before measuring.
    for (const t of targets) await request(`${t.url}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: BODY }).then((r) => r.body.arrayBuffer());

    const rows: string[][] = [];
    const ttfb: TtfbFigures[] = [];
    const cannons: CannonFigures[] = [];
    for (const t of targets) {
      const c = await cannon(t.url);
      const f = await ttfbLoop(t.url);
      cannons.push(c);
      ttfb.push(f);
      rows.push([
        t.name,
        c.rps.toFixed(1),
        String(c.p50),
        String(c.p99),
        String(c.errors + c.non2xx),
        f.p50.toFixed(1),
        f.p90.toFixed(1),
        f.p99.toFixed(1),
        f.total.toFixed(1),
        (f.bytes / 48000).toFixed(2),
      ]);
    }
    for (let i = 1; i < targets.length; i++) {
      const [c, f] = [cannons[i]!, ttfb[i]!];
      rows.push([
        `${targets[i]!.name} adds`,
        `${(((c.rps - cannons[0]!.rps) / cannons[0]!.rps) * 100).toFixed(1)} %`,
        String(c.p50 - cannons[0]!.p50),
        String(c.p99 - cannons[0]!.p99),
        '',
        (f.p50 - ttfb[0]!.p50).toFixed(1),
        (f.p90 - ttfb[0]!.p90).toFixed(1),
        (f.p99 - ttfb[0]!.p99).toFixed(1),
        (f.total - ttfb[0]!.total).toFixed(1),
        '',
      ]);
    }
    const header = ['target', 'req/s', 'lat p50 ms', 'lat p99 ms', 'errors', 'TTFB p50 ms', 'TTFB p90 ms', 'TTFB p99 ms', 'full p50 ms', 'audio s'];
    console.log(`\nPOST /v1/audio/speech, pcm, ${INPUT.length} chars, ${CONNECTIONS} concurrent; autocannon ${DURATION_S} s; TTFB loop ${TTFB_REQUESTS} requests\n`);
    console.log(`| ${header.join(' | ')} |`);
    console.log(`|${header.map(() => '---').join('|')}|`);
    for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  } finally {
    stop();
  }
}

if (role === 'sim') await runSim();
else if (role === 'gateway') {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))!.slice(name.length + 3);
  await runGateway(arg('sim'), arg('engine') === 'ws' ? 'ws' : 'uws');
}
else await main();
