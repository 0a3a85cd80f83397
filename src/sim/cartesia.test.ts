import { afterEach, describe, expect, it } from 'vitest';
import alawmulaw from 'alawmulaw';
import { WebSocket } from 'ws';
import { startFakeCartesia, type FakeCartesia, type FakeCartesiaOptions } from './cartesia.ts';

const VERSION = { 'Cartesia-Version': '2025-04-16' };
let fake: FakeCartesia | undefined;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await fake?.close();
  fake = undefined;
});

async function start(options: FakeCartesiaOptions = {}): Promise<FakeCartesia> {
  fake = await startFakeCartesia({ ttfaMs: 10, rtf: 0.02, chunkMs: 40, ...options });
  return fake;
}

interface Msg {
  type: string;
  context_id?: string;
  data?: string;
  status_code?: number;
  done?: boolean;
  flush_id?: number;
  step_time?: number;
  title?: string;
  message?: string;
  error?: string;
  error_code?: string;
}

/** Opens a socket and collects every message it receives. */
async function connect(url: string, headers: Record<string, string> = VERSION): Promise<{ ws: WebSocket; messages: Msg[]; closed: Promise<number> }> {
  const ws = new WebSocket(url, { headers });
  sockets.push(ws);
  const messages: Msg[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as Msg));
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages, closed };
}

function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

function request(contextId: string, transcript: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    model_id: 'sonic-3',
    transcript,
    voice: { mode: 'id', id: 'voice-a' },
    output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 24000 },
    context_id: contextId,
    continue: false,
    ...extra,
  });
}

async function until(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function audioBytes(messages: Msg[], contextId: string): Buffer {
  return Buffer.concat(messages.filter((m) => m.type === 'chunk' && m.context_id === contextId).map((m) => Buffer.from(m.data!, 'base64')));
}

describe('fake Cartesia: HTTP and handshake', () => {
  it('answers GET / with ok and its version', async () => {
    const f = await start({ version: '2025-11-04' });
    const res = await fetch(f.url.replace('ws://', 'http://').replace('/tts/websocket', '/'));
    expect(await res.json()).toEqual({ ok: true, version: '2025-11-04' });
  });

  it('refuses an upgrade without a version (400) and without the right key (401)', async () => {
    const f = await start({ apiKey: 'sk-test' });
    expect(await upgradeStatus(f.url, { Authorization: 'Bearer sk-test' })).toBe(400);
    expect(await upgradeStatus(f.url, VERSION)).toBe(401);
    expect(await upgradeStatus(f.url, { ...VERSION, Authorization: 'Bearer wrong' })).toBe(401);
    expect(await upgradeStatus(f.url, { ...VERSION, Authorization: 'Bearer sk-test' })).toBe(101);
    expect(await upgradeStatus(`${f.url}?api_key=sk-test&cartesia_version=2025-04-16`, {})).toBe(101);
    expect(await upgradeStatus(f.url.replace('/tts/websocket', '/nope'), VERSION)).toBe(404);
  });
});

describe('fake Cartesia: generation', () => {
  it('streams base64 chunks with step_time and context_id, then done; length follows the transcript', async () => {
    const f = await start({ msPerChar: 50 });
    const { ws, messages } = await connect(f.url);
    ws.send(request('c1', 'Hello there.'));
    await until(() => messages.some((m) => m.type === 'done'));
    const chunks = messages.filter((m) => m.type === 'chunk');
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) {
      expect(c).toMatchObject({ context_id: 'c1', status_code: 206, done: false });
      expect(typeof c.step_time).toBe('number');
    }
    expect(messages.at(-1)).toMatchObject({ type: 'done', done: true, context_id: 'c1', status_code: 206 });
    // 12 characters × 50 ms at 24 kHz, 2 bytes a sample.
    expect(audioBytes(messages, 'c1').length).toBe(12 * 50 * 24 * 2);
    expect(f.contexts()).toBe(1);
    expect(f.activeContexts()).toBe(0);
    expect(f.characters()).toBe(12);
  });

  it.each([
    ['pcm_s16le', 16000, 2],
    ['pcm_f32le', 44100, 4],
    ['pcm_mulaw', 8000, 1],
    ['pcm_alaw', 8000, 1],
    ['pcm_s16le', 48000, 2],
  ] as const)('encodes %s at %i Hz as a voiced signal', async (encoding, rate, width) => {
    const f = await start({ msPerChar: 40 });
    const { ws, messages } = await connect(f.url);
    ws.send(request('c', 'Speak now', { output_format: { container: 'raw', encoding, sample_rate: rate } }));
    await until(() => messages.some((m) => m.type === 'done'));
    const bytes = audioBytes(messages, 'c');
    const count = Math.round((9 * 40 * rate) / 1000);
    expect(bytes.length).toBe(count * width);
    let samples: Float64Array;
    if (encoding === 'pcm_s16le') samples = Float64Array.from(new Int16Array(bytes.buffer, bytes.byteOffset, count), (v) => v / 32768);
    else if (encoding === 'pcm_f32le') samples = Float64Array.from({ length: count }, (_, i) => bytes.readFloatLE(i * 4));
    else {
      const codes = new Uint8Array(bytes);
      const pcm = encoding === 'pcm_mulaw' ? alawmulaw.mulaw.decode(codes) : alawmulaw.alaw.decode(codes);
      samples = Float64Array.from(pcm, (v) => v / 32768);
    }
    const peak = samples.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(peak).toBeGreaterThan(0.1);
    expect(peak).toBeLessThanOrEqual(1);
    // Voiced speech: the fundamental (zero crossings of the strongest partial) sits near 100–250 Hz.
    let crossings = 0;
    for (let i = 1; i < samples.length; i++) if (samples[i - 1] < 0 !== samples[i] < 0) crossings++;
    const perSecond = crossings / 2 / (count / rate);
    expect(perSecond).toBeGreaterThan(60);
    expect(perSecond).toBeLessThan(1500);
  });

  it('continues a context, marks a flush with flush_done and numbers the audio by flush_id', async () => {
    const f = await start();
    const { ws, messages } = await connect(f.url);
    ws.send(request('t', 'Hello ', { continue: true }));
    ws.send(request('t', '', { continue: true, flush: true }));
    await until(() => messages.some((m) => m.type === 'flush_done'));
    ws.send(request('t', 'again.', { continue: false }));
    await until(() => messages.some((m) => m.type === 'done'));
    const types = messages.map((m) => `${m.type}:${m.flush_id ?? '-'}`);
    const boundary = types.indexOf('flush_done:1');
    expect(boundary).toBeGreaterThan(0);
    expect(types.slice(0, boundary).every((t) => t === 'chunk:1')).toBe(true);
    expect(types.slice(boundary + 1, -1).every((t) => t === 'chunk:2')).toBe(true);
    expect(types.at(-1)).toBe('done:-');
    expect(f.characters()).toBe('Hello again.'.length);
  });

  it('holds unpunctuated continued text for max_buffer_delay_ms', async () => {
    const f = await start();
    const { ws, messages } = await connect(f.url);
    ws.send(request('b', 'no full stop', { continue: true, max_buffer_delay_ms: 150 }));
    await new Promise((r) => setTimeout(r, 80));
    expect(messages).toHaveLength(0);
    await until(() => messages.some((m) => m.type === 'chunk'));
    expect(f.activeContexts()).toBe(1);
  });

  it('multiplexes contexts on one socket', async () => {
    const f = await start();
    const { ws, messages } = await connect(f.url);
    ws.send(request('a', 'First one.'));
    ws.send(request('b', 'Second, longer one.'));
    await until(() => messages.filter((m) => m.type === 'done').length === 2);
    expect(audioBytes(messages, 'a').length).toBe(10 * 60 * 24 * 2);
    expect(audioBytes(messages, 'b').length).toBe(19 * 60 * 24 * 2);
    expect(f.contexts()).toBe(2);
  });

  it('cancel stops a context at once', async () => {
    const f = await start({ rtf: 0.5 });
    const { ws, messages } = await connect(f.url);
    ws.send(request('x', 'A rather long sentence to be cut short.'));
    await until(() => messages.some((m) => m.type === 'chunk'));
    expect(f.activeContexts()).toBe(1);
    ws.send(JSON.stringify({ context_id: 'x', cancel: true }));
    await until(() => f.activeContexts() === 0, 50);
    const count = messages.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(messages.length).toBeLessThanOrEqual(count + 1);
    expect(messages.some((m) => m.type === 'done')).toBe(false);
  });

  it('refuses what the drop-in front end refuses (one codec): an out-of-range field is named, per context', async () => {
    const f = await start();
    const { ws, messages } = await connect(f.url);
    ws.send(request('late', 'Hi.', { max_buffer_delay_ms: 6000 }));
    ws.send(request('fast', 'Hi.', { generation_config: { speed: 3 } }));
    await until(() => messages.length === 2);
    expect(messages[0]).toMatchObject({ type: 'error', status_code: 400, context_id: 'late', error_code: 'invalid_request' });
    expect(messages[0].message).toMatch(/max_buffer_delay_ms/);
    expect(messages[1]).toMatchObject({ type: 'error', status_code: 400, context_id: 'fast', error_code: 'invalid_request' });
    expect(messages[1].message).toMatch(/generation_config\.speed/);
    expect(f.contexts()).toBe(0);
    expect(await upgradeStatus(f.url, { 'Cartesia-Version': 'latest' })).toBe(400);
  });

  it('rejects an unsupported output format with a 400 error for that context', async () => {
    const f = await start();
    const { ws, messages } = await connect(f.url);
    ws.send(request('bad', 'Hi.', { output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 11025 } }));
    await until(() => messages.length > 0);
    expect(messages[0]).toMatchObject({ type: 'error', status_code: 400, context_id: 'bad', done: true, error_code: 'invalid_output_format' });
  });
});

describe('fake Cartesia: errors and faults', () => {
  it('speaks both error shapes', async () => {
    const f = await start({ faults: { error_rate: 1, error_status: 503 } });
    const { ws, messages } = await connect(f.url);
    ws.send(request('e1', 'Hi.'));
    await until(() => messages.length === 1);
    expect(messages[0]).toMatchObject({ type: 'error', status_code: 503, context_id: 'e1', done: true });
    expect(typeof messages[0].title).toBe('string');
    expect(typeof messages[0].message).toBe('string');
    expect(messages[0].error).toBeUndefined();
    f.setErrorShape('legacy');
    ws.send(request('e2', 'Hi.'));
    await until(() => messages.length === 2);
    expect(messages[1]).toMatchObject({ type: 'error', status_code: 503, context_id: 'e2', done: true });
    expect(typeof messages[1].error).toBe('string');
    expect(messages[1].title).toBeUndefined();
  });

  it('answers 429 beyond maxContexts', async () => {
    const f = await start({ maxContexts: 1, faults: { hang: true } });
    const { ws, messages } = await connect(f.url);
    ws.send(request('one', 'Hi.'));
    ws.send(request('two', 'Hi.'));
    await until(() => messages.length === 1);
    expect(messages[0]).toMatchObject({ type: 'error', status_code: 429, context_id: 'two' });
  });

  it('hang: accepts and never answers, until cancelled', async () => {
    const f = await start({ faults: { hang: true } });
    const { ws, messages } = await connect(f.url);
    ws.send(request('h', 'Hi.'));
    await new Promise((r) => setTimeout(r, 100));
    expect(messages).toHaveLength(0);
    expect(f.activeContexts()).toBe(1);
    ws.send(JSON.stringify({ context_id: 'h', cancel: true }));
    await until(() => f.activeContexts() === 0);
  });

  it('die_mid_stream: drops the socket after some chunks', async () => {
    const f = await start({ faults: { die_mid_stream: true }, faultAfterChunks: 2 });
    const { ws, messages, closed } = await connect(f.url);
    ws.send(request('d', 'A sentence long enough for several chunks.'));
    const code = await closed;
    expect(code).toBe(1006);
    expect(messages.filter((m) => m.type === 'chunk')).toHaveLength(2);
    await until(() => f.activeContexts() === 0);
  });

  it('stall_ms: pauses mid-stream, then finishes', async () => {
    const f = await start({ faults: { stall_ms: 200 }, faultAfterChunks: 1 });
    const { ws, messages } = await connect(f.url);
    const times: number[] = [];
    ws.on('message', () => times.push(performance.now()));
    ws.send(request('s', 'Long enough to stall.'));
    await until(() => messages.some((m) => m.type === 'done'));
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(190);
  });

  it('down: refuses connections, then comes back on the same port', async () => {
    const f = await start();
    const first = await connect(f.url);
    f.setFaults({ down: true });
    await f.settled();
    expect(await first.closed).toBe(1006);
    await expect(connect(f.url)).rejects.toThrow(/ECONNREFUSED/);
    f.setFaults({ down: false });
    await f.settled();
    const again = await connect(f.url);
    expect(again.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes an idle socket', async () => {
    const f = await start({ idleMs: 100 });
    const { closed } = await connect(f.url);
    expect(await closed).toBe(1000);
    await until(() => f.connections() === 0);
  });
});
