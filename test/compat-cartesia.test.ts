/**
 * The Cartesia drop-in (/tts/websocket, /tts/bytes, /tts/sse) with the official
 * `@cartesia/cartesia-js` 4.x client, unchanged. Its WebSocket client forces wss, so it reaches
 * the gateway through a TLS-terminating proxy (as behind nginx). The fleet is the simulator.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type CartesiaClient from '@cartesia/cartesia-js';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import { initializeLogger } from '@livekit/agents';
import { API_KEY, CARTESIA_VOICE, startCompatGateway, type CompatFixture } from './helpers/compat-gateway.ts';
import { JsonSocket } from './helpers/json-socket.ts';
import { startTlsProxy, type TlsProxy } from './helpers/tls-proxy.ts';

// The SDK's ESM build cannot find `ws` on Node 20 (test/cartesia-sdk.test.ts); its CommonJS build can.
const Cartesia = createRequire(import.meta.url)('@cartesia/cartesia-js').default as typeof CartesiaClient;

let fx: CompatFixture;
let proxy: TlsProxy;

beforeAll(async () => {
  initializeLogger({ pretty: false, level: 'warn' });
  // rtf 0.3: a long sentence takes seconds to synthesize, so a cancel lands mid-synthesis.
  fx = await startCompatGateway({ latency: { first_audio_ms: 20, rtf: 0.3, chunk_ms: 100 } });
  proxy = await startTlsProxy(fx.port);
});

afterAll(async () => {
  await proxy?.close();
  await fx?.close();
});

const client = (apiKey = API_KEY) => new Cartesia({ apiKey, baseURL: `https://127.0.0.1:${proxy.port}` });
/** The REST calls take the base URL as given: plain http to the gateway. */
const restClient = (apiKey = API_KEY) => new Cartesia({ apiKey, baseURL: fx.http, maxRetries: 0 });
// About 16 s of speech: at the simulator's rtf 0.3 it synthesizes for ~5 s, so a GPU request
// gone within 1.5 s was aborted, not finished.
const LONG = 'This is a long sentence that keeps the simulated GPU busy for a good while, long enough to be cut off in the middle of it, and then it goes on and on about nothing in particular so that the synthesis takes several seconds to finish.';
const CONTEXT = {
  model_id: 'sonic-3',
  voice: { mode: 'id' as const, id: CARTESIA_VOICE },
  output_format: { container: 'raw' as const, encoding: 'pcm_s16le' as const, sample_rate: 16000 as const },
};

async function drain(ctx: { receive(o?: { timeout?: number }): AsyncGenerator<{ type: string; audio?: Uint8Array; flush_id?: number | null }> }) {
  const types: string[] = [];
  let bytes = 0;
  for await (const event of ctx.receive({ timeout: 10_000 })) {
    types.push(event.type);
    if (event.type === 'chunk') bytes += event.audio!.length;
  }
  return { types, bytes };
}

describe('@cartesia/cartesia-js against /tts/websocket', () => {
  it('two sentences on one context and a second context in parallel on the same socket', async () => {
    const ws = await client().tts.websocket({ ca: proxy.cert });
    try {
      const a = ws.context(CONTEXT);
      const b = ws.context({ ...CONTEXT, output_format: { container: 'raw', encoding: 'pcm_mulaw', sample_rate: 8000 } });
      await a.push({ transcript: 'The first sentence is here. ' });
      await b.push({ transcript: 'Another context speaks at the same time.' });
      await a.push({ transcript: 'And a second one follows it.' });
      await b.no_more_inputs();
      await a.no_more_inputs();
      const [ra, rb] = await Promise.all([drain(a), drain(b)]);
      expect(ra.types.at(-1)).toBe('done');
      expect(rb.types.at(-1)).toBe('done');
      expect(ra.types.filter((t) => t === 'chunk').length).toBeGreaterThan(2);
      // s16 at 16 kHz: whole samples, and ~2 s of speech for two sentences (the sim speaks ~60 ms a character).
      expect(ra.bytes % 2).toBe(0);
      expect(ra.bytes).toBeGreaterThan(16000 * 2 * 1);
      expect(rb.bytes).toBeGreaterThan(8000 * 1);
    } finally {
      ws.close();
    }
  });

  it('cancel stops the audio and frees the GPU request', async () => {
    const ws = await client().tts.websocket({ ca: proxy.cert });
    try {
      const ctx = ws.context(CONTEXT);
      await ctx.push({ transcript: LONG });
      await ctx.no_more_inputs();
      const first = await new Promise<void>((resolve) => ws.on('chunk', () => resolve()));
      void first;
      expect(fx.totalActive()).toBeGreaterThan(0);
      await ctx.cancel();
      await expect.poll(() => fx.totalActive(), { timeout: 1500 }).toBe(0);
    } finally {
      ws.close();
    }
  });
});

describe('@livekit/agents-plugin-cartesia (baseUrl; its synthesize() hard-codes https, so stream() only)', () => {
  const tts = () => new cartesia.TTS({ apiKey: API_KEY, baseUrl: fx.http, voice: CARTESIA_VOICE, sampleRate: 16000 });

  it('stream(): two sentences in, 16 kHz frames out, the stream ends on done', async () => {
    const engine = tts();
    const stream = engine.stream();
    stream.pushText('The first sentence is here. ');
    stream.pushText('And a second one follows it.');
    stream.endInput();
    let samples = 0;
    let final = false;
    for await (const event of stream) {
      if (typeof event !== 'object') continue;
      expect(event.frame.sampleRate).toBe(16000);
      samples += event.frame.samplesPerChannel;
      if (event.final) final = true;
    }
    expect(final).toBe(true);
    expect(samples).toBeGreaterThan(16000);
    await engine.close();
  });

  it('closing the stream mid-sentence (interrupt) frees the GPU request', async () => {
    const engine = tts();
    const stream = engine.stream();
    stream.pushText(LONG);
    stream.flush();
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    expect(fx.totalActive()).toBeGreaterThan(0);
    stream.close();
    await expect.poll(() => fx.totalActive(), { timeout: 1500 }).toBe(0);
    await engine.close();
  });
});

describe('@cartesia/cartesia-js against the HTTP endpoints', () => {
  it('tts.generate (/tts/bytes): a streamed WAV', async () => {
    const res = await restClient().tts.generate({
      model_id: 'sonic-3',
      transcript: 'Hello from the bytes endpoint.',
      voice: { mode: 'id', id: CARTESIA_VOICE },
      output_format: { container: 'wav', encoding: 'pcm_s16le', sample_rate: 24000 },
    });
    expect(res.headers.get('content-type')).toBe('audio/wav');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.subarray(0, 4).toString()).toBe('RIFF');
    expect(bytes.subarray(8, 12).toString()).toBe('WAVE');
    expect(bytes.readUInt32LE(24)).toBe(24000);
    expect(bytes.length).toBeGreaterThan(44 + 24000);
  });

  it('tts.generateSSE (/tts/sse): chunk events, timestamps, then done', async () => {
    const stream = await restClient().tts.generateSSE({
      model_id: 'sonic-3',
      transcript: 'Server sent events work too.',
      voice: { mode: 'id', id: CARTESIA_VOICE },
      output_format: { container: 'raw', encoding: 'pcm_f32le', sample_rate: 22050 },
      add_timestamps: true,
    });
    const types: string[] = [];
    let bytes = 0;
    let words: string[] = [];
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'chunk') bytes += Buffer.from(event.data, 'base64').length;
      if (event.type === 'timestamps') words = words.concat(event.word_timestamps.words);
    }
    expect(types.at(-1)).toBe('done');
    expect(types).toContain('chunk');
    expect(words).toEqual(['Server', 'sent', 'events', 'work', 'too.']);
    expect(bytes % 4).toBe(0);
  });

  it('a wrong key is refused with 401 in Cartesia\'s error shape', async () => {
    await expect(restClient('wrong').tts.generate({ model_id: 'sonic-3', transcript: 'x.', voice: { mode: 'id', id: CARTESIA_VOICE }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 8000 } })).rejects.toMatchObject({ status: 401 });
  });
});

describe('/tts/websocket wire details', () => {
  const open = (query = '') => JsonSocket.open(`${fx.ws}/tts/websocket${query}`, { 'X-API-Key': API_KEY, 'Cartesia-Version': '2026-03-01' });

  it('flush: flush_done carries flush_id 1; audio after it carries 2; timestamps are estimated per segment', async () => {
    const s = await open();
    const base = { ...CONTEXT, context_id: 'ctx-flush', add_timestamps: true, max_buffer_delay_ms: 0 };
    s.send({ ...base, transcript: 'Before the flush.', continue: true });
    s.send({ ...base, transcript: '', continue: true, flush: true });
    s.send({ ...base, transcript: 'After the flush.', continue: false });
    await s.wait((m) => m.type === 'done');
    const replies = s.json();
    for (const r of replies) expect(r).toMatchObject({ context_id: 'ctx-flush', status_code: 206 });
    const flushAt = replies.findIndex((r) => r.type === 'flush_done');
    expect(replies[flushAt]).toMatchObject({ flush_id: 1, done: false, flush_done: true });
    const chunks = replies.map((r, i) => [r, i] as const).filter(([r]) => r.type === 'chunk');
    expect(chunks.length).toBeGreaterThan(1);
    for (const [r, i] of chunks) {
      expect(typeof r.step_time).toBe('number');
      expect(r.done).toBe(false);
      expect(r.flush_id).toBe(i < flushAt ? 1 : 2);
    }
    const stamps = replies.filter((r) => r.type === 'timestamps').map((r) => r.word_timestamps as { words: string[]; start: number[]; end: number[] });
    expect(stamps.flatMap((t) => t.words)).toEqual(['Before', 'the', 'flush.', 'After', 'the', 'flush.']);
    const starts = stamps.flatMap((t) => t.start);
    for (let i = 1; i < starts.length; i++) expect(starts[i]!).toBeGreaterThan(starts[i - 1]!);
    expect(replies.at(-1)).toMatchObject({ type: 'done', done: true });
    await s.close();
  });

  it('bad input gets a Cartesia error and the socket goes on', async () => {
    const s = await open('?cartesia_version=2025-04-16');
    s.send('not json');
    expect(await s.wait((m) => m.type === 'error')).toMatchObject({ status_code: 400, done: true });
    s.send({ ...CONTEXT, context_id: 'ctx-voice', voice: { mode: 'id', id: 'no-such-voice' }, transcript: 'Hi.', continue: false });
    expect(await s.wait((m) => m.type === 'error' && m.context_id === 'ctx-voice')).toMatchObject({ status_code: 400, error_code: 'unknown_voice' });
    s.send({ ...CONTEXT, context_id: 'ctx-mp3', output_format: { container: 'mp3', sample_rate: 44100, bit_rate: 128000 }, transcript: 'Hi.' });
    expect(await s.wait((m) => m.type === 'error' && m.context_id === 'ctx-mp3')).toMatchObject({ status_code: 400, error_code: 'invalid_output_format' });
    s.send({ ...CONTEXT, context_id: 'ctx-ok', transcript: 'Still here.', continue: false });
    await s.wait((m) => m.type === 'done' && m.context_id === 'ctx-ok');
    await s.close();
  });
});
