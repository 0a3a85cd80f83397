/**
 * Issue 18's memory acceptance, as an attacker would, loopback only, in one run:
 *
 *   A. huge tokens: the default config's embedded pool (two espeak workers); one client sends two
 *      turns of 99,000 digits while 4 honest calls speak 3 turns each. Reports the honest calls'
 *      slowest turn against unloaded references (one call alone; the same 4 calls, no attacker), instances that went down, and RSS before the
 *      attack and after the attacker left (target: within 20 %).
 *   B. clients that do not read: a simulated fleet, default session bounds; 5 attackers that never
 *      read send marks, turns and long tokens for --seconds (default 60), reconnecting when ended,
 *      while 3 honest calls speak turns in a loop. Reports peak RSS growth per attacker against
 *      the documented ceiling (32 MiB, docs/deploy.md), client_too_slow per attacker connection,
 *      and the honest calls' problems.
 *
 *   npx tsx --expose-gc bench/hostile-clients.ts [--seconds 60]
 */
import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { parseConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { textDurationMs } from '../src/sim/audio.ts';
import { startSimFleet } from '../src/sim/fleet.ts';
import { checkCall } from '../test/helpers/call-check.ts';
import { StreamClient } from '../test/helpers/stream-client.ts';

const arg = (name: string, fallback: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const seconds = arg('--seconds', 60);
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : 'AB';
const MiB = 1024 * 1024;
const mb = () => Math.round(process.memoryUsage().rss / MiB);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Where the RSS is: V8 heap, external (WASM memories and Buffers live here), array buffers. */
const usage = (): Record<string, number> => {
  const u = process.memoryUsage();
  return Object.fromEntries(Object.entries({ rss: u.rss, heapTotal: u.heapTotal, heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers }).map(([k, v]) => [k, Math.round(v / MiB)]));
};
const gc = () => (globalThis as { gc?: () => void }).gc?.();
const DIGITS = (n: number) => Array.from({ length: n }, (_, i) => String((i * 7 + 3) % 10)).join('');
const CEILING_MIB = 32;

// ---- A. huge tokens on the embedded engine -------------------------------------------------
if (only.includes('A')) {
  const gateway = await createGateway({
    config: parseConfig({
      server: { host: '127.0.0.1', port: 0 },
      pools: [
        {
          name: 'embedded',
          backend: 'espeak',
          model: 'espeak',
          voices: ['en-us'],
          instances: [
            { id: 'espeak-1', max_concurrency: 1 },
            { id: 'espeak-2', max_concurrency: 1 },
          ],
          timeouts: { first_audio_ms: 3000, stall_ms: 3000 },
        },
      ],
    }),
  });
  const downs: string[] = [];
  gateway.fleet.on('instance', (e) => {
    if (e.type === 'down' || e.type === 'ejected') downs.push(`${e.instance}:${e.type}`);
  });
  const url = `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
  const honestCall = async (name: string, turns: number) => {
    const client = await StreamClient.started(`${url}?session_id=${name}`);
    let slowest = 0;
    for (let t = 0; t < turns; t++) {
      const before = client.ofType('turn_end').length;
      const started = performance.now();
      client.send({ type: 'text', text: `This is ${name}, turn ${t + 1}. Everything is on schedule.` });
      client.send({ type: 'flush' });
      await client.waitFor((e) => e.type === 'turn_end' && client.ofType('turn_end').length > before, 60_000);
      slowest = Math.max(slowest, performance.now() - started);
    }
    const result = { segments: client.ofType('segment_end').length, errors: client.ofType('error').map((e) => String(e.code)), slowest };
    await client.close();
    return result;
  };
  await honestCall('warm', 2);
  const reference = await honestCall('reference', 3);
  // The same 4 honest calls without the attacker: what the attack itself adds.
  const together = await Promise.all([1, 2, 3, 4].map((i) => honestCall(`together-${i}`, 3)));
  const togetherSlowest = Math.max(...together.map((h) => h.slowest));
  await sleep(1000);
  gc();
  const rssBefore = mb();
  const usageBefore = usage();
  const attacker = await StreamClient.started(`${url}?session_id=attacker`);
  const token = DIGITS(99_000);
  for (let i = 0; i < 2; i++) {
    attacker.send({ type: 'text', text: token.slice(0, 49_500) });
    attacker.send({ type: 'text', text: token.slice(49_500) });
    attacker.send({ type: 'flush' });
  }
  // The attacker is in this process too: it keeps none of the audio it receives, or its own
  // copies would be counted as the gateway's RSS (they were: +155 MB of ArrayBuffers "after").
  const forget = setInterval(() => {
    attacker.events.length = 0;
    attacker.times.length = 0;
  }, 50);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, mb())), 20);
  const honest = await Promise.all([1, 2, 3, 4].map((i) => honestCall(`honest-${i}`, 3)));
  await attacker.close();
  clearInterval(forget);
  attacker.events.length = 0;
  attacker.times.length = 0;
  clearInterval(sampler);
  for (let i = 0; i < 50 && !gateway.fleet.snapshot().every((s) => s.streams === 0 && s.healthy); i++) await sleep(100);
  await sleep(3000);
  const rssAfter = mb();
  gc();
  await sleep(500);
  const rssAfterGc = mb();
  const usageAfter = usage();
  const slowest = Math.max(...honest.map((h) => h.slowest));
  console.log('A. two turns of 99,000 digits while 4 honest calls run (embedded engine, 2 workers)');
  console.log(`  honest: ${honest.reduce((n, h) => n + h.segments, 0)}/24 segments, errors [${honest.flatMap((h) => h.errors).join(', ')}]; slowest turn ${Math.round(slowest)} ms vs unloaded ${Math.round(reference.slowest)} ms alone (${(slowest / reference.slowest).toFixed(2)}×) and ${Math.round(togetherSlowest)} ms for the same 4 calls without the attacker (${(slowest / togetherSlowest).toFixed(2)}×; target < 2×)`);
  console.log(`  instances down: ${downs.length === 0 ? 'none' : downs.join(', ')}`);
  console.log(`  RSS MB: before ${rssBefore}, peak ${rssPeak}, 3 s after the attacker left ${rssAfter} (${(((rssAfter - rssBefore) / rssBefore) * 100).toFixed(0)} %), after a full GC ${rssAfterGc} (${(((rssAfterGc - rssBefore) / rssBefore) * 100).toFixed(0)} %; target within 20 %)`);
  console.log(`  MB before → after GC: ${Object.keys(usageBefore).map((k) => `${k} ${usageBefore[k]} → ${usageAfter[k]}`).join(', ')}`);
  await gateway.close();
}

// ---- B. five clients that do not read, for `seconds` ---------------------------------------
if (only.includes('B')) {
  const RATE = 16000;
  const START = { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: RATE } };
  const SENTENCES = ['The order left the warehouse today.', 'It should arrive on Thursday.'];
  const fleet = await startSimFleet({ count: 2, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 60, rtf: 0.2, chunk_ms: 200, comfortable: 40, max: 40 } });
  const gateway = await createGateway({
    config: parseConfig({
      server: { host: '127.0.0.1', port: 0 },
      pools: [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 40 })), timeouts: { first_audio_ms: 1500, stall_ms: 1500 } }],
    }),
  });
  const url = `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
  gc();
  await sleep(500);
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
  const endAt = performance.now() + seconds * 1000;
  let maxLag = 0;
  let lastTick = performance.now();
  const lagProbe = setInterval(() => {
    const now = performance.now();
    maxLag = Math.max(maxLag, now - lastTick - 50);
    lastTick = now;
  }, 50);
  let connections = 0;
  const startFailures: string[] = [];
  let tooSlow = 0;
  const attackerLoop = async (i: number) => {
    const long = '9'.repeat(5000);
    while (performance.now() < endAt) {
      const id = `slow-${i}-${connections++}`;
      const c = await StreamClient.started(`${url}?session_id=${id}`, START).catch((err: Error) => {
        startFailures.push(`attacker: ${err.message.slice(-160)}`);
        return null;
      });
      if (!c) {
        await sleep(100);
        continue;
      }
      (c.ws as WebSocket & { _socket: Socket })._socket.pause(); // never reads
      for (let n = 0; c.ws.readyState === c.ws.OPEN && performance.now() < endAt; n++) {
        if (i % 2 === 0) c.send({ type: 'mark', name: `m${n}` });
        c.send({ type: 'text', text: n % 10 === 0 ? long : 'Another sentence to say. ' });
        if (n % 5 === 0) c.send({ type: 'flush' });
        if (n % 50 === 0) await sleep(5);
        // Ended server-side (client_too_slow): the session is gone even though this socket
        // has not read the close yet.
        if (n % 50 === 49 && ![...gateway.sessions.live].some((s) => s.id === id)) break;
      }
      (c.ws as WebSocket & { _socket: Socket })._socket.resume();
      await c.waitFor((e) => e.type === 'error' && e.code === 'client_too_slow', 10_000).then(() => tooSlow++, () => undefined);
      c.ws.terminate();
    }
  };
  let honestTurns = 0;
  const honestProblems: string[] = [];
  const honestLoop = async (i: number) => {
    while (performance.now() < endAt) {
      const c = await StreamClient.started(`${url}?session_id=honest-${i}-${honestTurns}`, START).catch((err: Error) => {
        startFailures.push(`honest: ${err.message.slice(-160)}`);
        return null;
      });
      if (!c) {
        await sleep(100);
        continue;
      }
      for (const s of SENTENCES) c.send({ type: 'text', text: `${s} ` });
      c.send({ type: 'flush' });
      await c.waitType('turn_end', 30_000);
      const problems = checkCall(c, SENTENCES, (RATE * 2) / 1000, (t) => textDurationMs(t.trim())).problems;
      if (problems.length > 0) honestProblems.push(c.ofType('error').map((e) => `${String(e.code)}: ${String(e.message)}`).join('; ') || problems[0]!);
      honestTurns++;
      await c.close();
    }
  };
  await Promise.all([...[0, 1, 2, 3, 4].map(attackerLoop), ...[0, 1, 2].map(honestLoop)]);
  clearInterval(sampler);
  clearInterval(lagProbe);
  const perClient = (rssPeak - rssBefore) / 5 / MiB;
  console.log(`B. 5 non-reading clients sending marks, turns and long tokens for ${seconds} s (simulated fleet, default session bounds)`);
  console.log(`  attacker connections ${connections}, ended with client_too_slow ${tooSlow} (the rest were still open at the end, or refused at start); event-loop lag max ${Math.round(maxLag)} ms (gateway, simulated fleet and all clients share this process)`);
  console.log(`  RSS MB: before ${Math.round(rssBefore / MiB)}, peak ${Math.round(rssPeak / MiB)}; peak growth per attacker ${perClient.toFixed(1)} MiB (ceiling ${CEILING_MIB} MiB: ${perClient < CEILING_MIB ? 'under' : 'OVER'})`);
  console.log(`  refused starts: ${startFailures.length}${startFailures.length ? ` (first: ${startFailures[0]}; live sessions now ${gateway.sessions.live.size})` : ''}`);
  console.log(`  honest: ${honestTurns} calls of one turn, ${honestProblems.length} with a problem${honestProblems.length ? ` (first: ${honestProblems[0]})` : ''}`);
  await gateway.close();
  await fleet.close();
}
