/**
 * Failover figures (issue: no call goes silent):
 *  1. death → audio resuming: 50 calls on 3 simulated instances (time to first audio 150 ms),
 *     each mid-way through a long turn; one instance is killed (listener closed, streams cut);
 *     for every call pinned there, the time from the kill to its next audio frame.
 *  2. hang detection: every instance hangs; time from flush to the failover event, against
 *     first_audio_ms (target: within first_audio_ms + 100 ms).
 *  3. completeness under the chaos: every segment once, in order.
 *
 *   npx tsx bench/failover.ts [--calls 50] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { startFakeCartesia } from '../src/sim/cartesia.ts';
import { startSimFleet } from '../src/sim/fleet.ts';
import { checkCall } from '../test/helpers/call-check.ts';
import { StreamClient } from '../test/helpers/stream-client.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '50' }, rounds: { type: 'string', default: '3' } } });
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const FIRST_AUDIO_MS = 1500;
const SENTENCES = Array.from({ length: 10 }, (_, i) => `This is sentence ${i + 1} of a long answer that keeps the line busy.`);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

const fleet = await startSimFleet({ count: 3, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 150, rtf: 0.2, comfortable: 60, max: 60, chunk_ms: 100 } });
const cartesia = await startFakeCartesia({ ttfaMs: 150, msPerChar: 70, rtf: 0.2 });
const config = parseConfig({
  server: { host: '127.0.0.1', port: 0 },
  pools: [
    {
      name: 'kokoro',
      backend: 'openai',
      voices: ['af_heart'],
      instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 60 })),
      health: { interval_ms: 1000, timeout_ms: 800, fall: 2, rise: 2, eject_base_ms: 500, eject_max_ms: 2000 },
      timeouts: { first_audio_ms: FIRST_AUDIO_MS, stall_ms: 2000 },
    },
  ],
  fallback: { backend: 'cartesia', url: cartesia.url, api_key: 'bench', max_concurrency: 500 },
});
const gateway = await createGateway({ config });
let url = `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;

async function startCall(key: string): Promise<StreamClient> {
  const client = await StreamClient.connect(`${url}?session_id=${key}`);
  client.send({ type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 16000 } });
  await client.waitType('ready');
  return client;
}

const resume: number[] = [];
const problems: string[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const clients = await Promise.all(Array.from({ length: CALLS }, (_, i) => startCall(`r${round}-c${i}`)));
  for (const c of clients) {
    c.send({ type: 'text', text: SENTENCES.join(' ') });
    c.send({ type: 'flush' });
  }
  await new Promise((r) => setTimeout(r, 600));
  const victim = fleet.instances[round % 3]!;
  const pinned = clients.filter((c) => (c.events[0] as Record<string, unknown>).instance === victim.id);
  const killedAt = performance.now();
  await victim.stop();
  await Promise.all(clients.map((c) => c.waitType('turn_end', 60_000)));
  for (const c of pinned) {
    const next = c.times.findIndex((t, i) => t > killedAt && c.events[i]!.type === 'audio');
    if (next >= 0) resume.push(c.times[next]! - killedAt);
  }
  for (const [i, c] of clients.entries()) {
    const report = checkCall(c, SENTENCES, 32, null);
    if (report.problems.length) problems.push(`round ${round} call ${i}: ${report.problems.join('; ')}`);
    await c.close();
  }
  await victim.start();
  await new Promise((r) => setTimeout(r, 3000));
}

await gateway.close();

// Hang detection: every instance hangs; Cartesia answers. Passive ejection is off here so
// every probe session is pinned to a hanging instance and has to detect the hang itself.
const hangConfig = structuredClone(config);
hangConfig.pools[0]!.health.eject_after = 1000;
const hangGateway = await createGateway({ config: hangConfig, healthChecks: false });
url = `ws://127.0.0.1:${await hangGateway.listen()}/v1/stream`;
const detect: number[] = [];
for (const i of fleet.instances) await i.setFaults({ hang: true });
for (let i = 0; i < 10; i++) {
  const c = await startCall(`hang-${i}`);
  const sent = performance.now();
  c.send({ type: 'text', text: 'One sentence to detect a hang.' });
  c.send({ type: 'flush' });
  await c.waitType('failover', 10_000);
  detect.push(c.times[c.events.findIndex((e) => e.type === 'failover')]! - sent);
  await c.waitType('turn_end', 10_000);
  await c.close();
}

await hangGateway.close();
await fleet.close();
await cartesia.close();

console.log(`${ROUNDS} rounds × ${CALLS} calls, 3 instances (TTFA 150 ms, rtf 0.2), fallback fake Cartesia (TTFA 150 ms)`);
console.log('| measured | n | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|');
console.log(`| instance killed → that call's audio resumes | ${resume.length} | ${pct(resume, 50).toFixed(0)} | ${pct(resume, 95).toFixed(0)} | ${Math.max(...resume).toFixed(0)} |`);
console.log(`| hang: flush → failover event (first_audio_ms ${FIRST_AUDIO_MS}) | ${detect.length} | ${pct(detect, 50).toFixed(0)} | ${pct(detect, 95).toFixed(0)} | ${Math.max(...detect).toFixed(0)} |`);
console.log(`segments checked: ${ROUNDS * CALLS * SENTENCES.length}; calls with problems: ${problems.length}`);
for (const p of problems.slice(0, 5)) console.log('  ' + p);
process.exit(0);
