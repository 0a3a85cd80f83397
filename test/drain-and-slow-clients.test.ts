/**
 * The session core under shutdown and under clients that do not read (issue: bounded and safe
 * under hostile clients): a drain tells every call, finishes what was started and refuses
 * (never cuts) what cannot end in time; a client that stops reading is ended with
 * client_too_slow once past its bounds, and the honest calls beside it lose nothing.
 * Simulated GPUs on loopback; bounded in count and time.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { textDurationMs } from '../src/sim/audio.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { checkCall } from './helpers/call-check.ts';
import { StreamClient } from './helpers/stream-client.ts';

const RATE = 16000;
const START = { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: RATE } };
const SENTENCES = ['The order left the warehouse today.', 'It should arrive on Thursday.'];

let fleet: SimFleet | null = null;
let gateway: Gateway | null = null;

afterEach(async () => {
  await gateway?.close();
  await fleet?.close();
  gateway = null;
  fleet = null;
});

async function start(session: Record<string, unknown> = {}): Promise<string> {
  fleet = await startSimFleet({ count: 2, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 60, rtf: 0.2, chunk_ms: 200, comfortable: 40, max: 40 } });
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    session,
    pools: [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 40 })), timeouts: { first_audio_ms: 1500, stall_ms: 1500 } }],
  });
  gateway = await createGateway({ config });
  return `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
}

/** docs/deploy.md, "Hostile clients": RSS per non-reading client on the default session bounds. */
const RSS_CEILING_PER_SLOW_CLIENT = 32 * 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('drain finishes what it started', () => {
  it('every call is told; the unflushed streaming turn and the short new turns finish; a long new turn is refused before any audio; sockets close 1001', async () => {
    const url = await start();
    const DEADLINE_MS = 5000;
    // 36 calls speaking short turns in a loop, one writing an unflushed turn a word at a time,
    // one with an 80-sentence turn, two that will try a long turn after the notice.
    const talkers = await Promise.all(Array.from({ length: 36 }, (_, i) => StreamClient.started(`${url}?session_id=talk-${i}`, START)));
    const streamer = await StreamClient.started(`${url}?session_id=streamer`, START);
    const long = await StreamClient.started(`${url}?session_id=long`, START);
    const late = await Promise.all([0, 1].map((i) => StreamClient.started(`${url}?session_id=late-${i}`, START)));
    const all = [...talkers, streamer, long, ...late];
    for (const c of all) c.ws.on('message', () => undefined);

    let draining = false;
    const loops = talkers.map(async (c) => {
      let turns = 0;
      while (!draining || turns === 0) {
        for (const s of SENTENCES) c.send({ type: 'text', text: `${s} ` });
        c.send({ type: 'flush' });
        turns++;
        await c.waitCount('turn_end', turns, 20_000);
        await sleep(100);
      }
      // One more short turn after the notice: it fits in the deadline, so it is spoken whole.
      for (const s of SENTENCES) c.send({ type: 'text', text: `${s} ` });
      c.send({ type: 'flush' });
      await c.waitCount('turn_end', turns + 1, 20_000);
    });
    long.send({ type: 'text', text: Array.from({ length: 80 }, (_, i) => `This is sentence number ${i + 1} of a very long answer.`).join(' ') });
    long.send({ type: 'flush' });
    const words = 'I am still thinking about what you asked and here is my answer for you'.split(' ');
    const streaming = (async () => {
      for (const w of words) {
        streamer.send({ type: 'text', text: `${w} ` });
        await sleep(150);
      }
      streamer.send({ type: 'flush' });
    })();

    await sleep(1000);
    const noticeAt = performance.now();
    draining = true;
    const shutdown = gateway!.shutdown(DEADLINE_MS);
    await Promise.all(all.map((c) => c.waitType('draining', 2000)));
    for (const c of all) expect((c.ofType('draining')[0] as { deadline_ms: number }).deadline_ms).toBe(DEADLINE_MS);
    // Long turns begun after the notice cannot end by the deadline: refused, nothing of them plays.
    for (const c of late) {
      c.send({ type: 'text', text: Array.from({ length: 30 }, () => 'A sentence that would take far too long to say now.').join(' ') });
      c.send({ type: 'flush' });
    }
    await Promise.all(late.map((c) => c.waitType('turn_end', 5000)));
    for (const c of late) {
      expect(c.ofType('error').map((e) => e.code)).toEqual(['shutting_down']);
      expect(c.ofType('segment')).toHaveLength(0);
    }
    await Promise.all([...loops, streaming]);
    await streamer.waitType('turn_end', DEADLINE_MS);
    await shutdown;
    const closedAt = performance.now();
    expect(closedAt - noticeAt).toBeLessThan(DEADLINE_MS + 1500);
    await Promise.all(all.map((c) => expect.poll(() => c.closeCode, { timeout: 3000, interval: 20 }).toBe(1001)));

    // Every turn a talker or the streamer began was spoken whole: segments in order, each ended.
    for (const c of [...talkers, streamer]) {
      const segments = c.ofType('segment').map((s) => s.index);
      const ends = c.ofType('segment_end').map((s) => s.index);
      expect(ends).toEqual(segments);
      expect(c.ofType('error')).toEqual([]);
    }
    expect(streamer.ofType('segment').map((s) => s.text).join(' ')).toContain('answer for you');
    // The 80-sentence turn could not end by the deadline: it was cut there (1001), not refused.
    expect(long.ofType('segment').length).toBeGreaterThan(0);
  }, 60_000);
});

describe('clients that do not read', () => {
  it('5 non-reading clients sending marks, turns and long tokens are ended with client_too_slow; their slots free; honest calls lose nothing', async () => {
    // The default bounds: the RSS ceiling they set is the documented one (docs/deploy.md).
    const url = await start();
    const honest = await Promise.all(Array.from({ length: 3 }, (_, i) => StreamClient.started(`${url}?session_id=honest-${i}`, START)));
    const slow = await Promise.all(Array.from({ length: 5 }, (_, i) => StreamClient.started(`${url}?session_id=slow-${i}`, START)));
    const sockets = slow.map((c) => (c.ws as WebSocket & { _socket: Socket })._socket);
    for (const s of sockets) s.pause(); // never read again
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 10);
    const sent = slow.map(async (c, i) => {
      const long = '9'.repeat(5000);
      for (let n = 0; n < 2000 && c.ws.readyState === c.ws.OPEN; n++) {
        if (i % 2 === 0) c.send({ type: 'mark', name: `m${n}` });
        c.send({ type: 'text', text: n % 10 === 0 ? long : 'Another sentence to say. ' });
        if (n % 5 === 0) c.send({ type: 'flush' });
        if (n % 50 === 0) await sleep(5);
      }
    });
    for (const c of honest) {
      for (const s of SENTENCES) c.send({ type: 'text', text: `${s} ` });
      c.send({ type: 'flush' });
    }
    await Promise.all(honest.map((c) => c.waitType('turn_end', 20_000)));
    for (const c of honest) expect(checkCall(c, SENTENCES, (RATE * 2) / 1000, (t) => textDurationMs(t.trim())).problems).toEqual([]);
    await Promise.all(sent);
    // Each slow session was ended server-side: nothing of it stays live or holds a slot.
    const slowIds = new Set(slow.map((_, i) => `slow-${i}`));
    await expect.poll(() => [...gateway!.sessions.live].filter((s) => slowIds.has(s.id)).length, { timeout: 10_000, interval: 50 }).toBe(0);
    clearInterval(sampler);
    for (const s of sockets) s.resume();
    await Promise.all(slow.map((c) => expect.poll(() => c.closeCode, { timeout: 10_000, interval: 20 }).toBe(1008)));
    for (const c of slow) expect(c.ofType('error').some((e) => e.code === 'client_too_slow' && e.fatal === true)).toBe(true);
    await expect.poll(() => fleet!.instances.reduce((n, i) => n + i.activeStreams(), 0), { timeout: 5000, interval: 50 }).toBe(0);
    // The documented ceiling: 32 MiB of RSS per non-reading client on the default bounds
    // (docs/deploy.md). The whole process's peak growth (gateway, fleet, honest calls and the
    // clients themselves) is charged to the five, so this is conservative.
    expect((rssPeak - rssBefore) / slow.length).toBeLessThan(RSS_CEILING_PER_SLOW_CLIENT);
    await Promise.all(honest.map((c) => c.close()));
  }, 60_000);
});

