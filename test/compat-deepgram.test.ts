/**
 * The Deepgram drop-in (/v1/speak WebSocket and REST) with the official clients unchanged:
 * `@deepgram/sdk` 5.x (speak v1 live client and REST) and `@livekit/agents-plugin-deepgram`
 * (stream(); its synthesize() hard-codes https on port 443, so it cannot reach a loopback
 * gateway — docs/compat.md). Raw sockets check Flushed/Cleared/Warning and the close.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeepgramClient } from '@deepgram/sdk';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import { initializeLogger } from '@livekit/agents';
import { API_KEY, DEEPGRAM_MODEL, startCompatGateway, type CompatFixture } from './helpers/compat-gateway.ts';
import { JsonSocket } from './helpers/json-socket.ts';

let fx: CompatFixture;

beforeAll(async () => {
  initializeLogger({ pretty: false, level: 'warn' });
  fx = await startCompatGateway({ latency: { first_audio_ms: 20, rtf: 0.3, chunk_ms: 100 } });
});

afterAll(async () => {
  await fx?.close();
});

// About 16 s of speech: at the simulator's rtf 0.3 it synthesizes for ~5 s, so a GPU request
// gone within 1.5 s was aborted, not finished.
const LONG = 'This is a long sentence that keeps the simulated GPU busy for a good while, long enough to be cut off in the middle of it, and then it goes on and on about nothing in particular so that the synthesis takes several seconds to finish.';

describe('@livekit/agents-plugin-deepgram', () => {
  it('stream(): two sentences in, 24 kHz frames out, ends on Flushed', async () => {
    const engine = new deepgram.TTS({ apiKey: API_KEY, baseUrl: fx.http, model: DEEPGRAM_MODEL, sampleRate: 24000 });
    const stream = engine.stream();
    stream.pushText('The first sentence is here. ');
    stream.pushText('And a second one follows it.');
    stream.endInput();
    let samples = 0;
    let final = false;
    for await (const event of stream) {
      if (typeof event !== 'object') continue;
      expect(event.frame.sampleRate).toBe(24000);
      samples += event.frame.samplesPerChannel;
      if (event.final) final = true;
    }
    expect(final).toBe(true);
    expect(samples).toBeGreaterThan(24000);
    await engine.close();
  });

  it('closing the stream mid-sentence: the plugin sends no Clear, so the flushed text finishes and the GPU is then free', async () => {
    // @livekit/agents-plugin-deepgram 1.8.1 aborts locally on close() and neither sends Clear nor
    // closes its socket (docs/compat.md): voicegate cannot know of the barge-in, so the GPU
    // finishes what was flushed; what must hold is that it then holds no GPU request.
    const engine = new deepgram.TTS({ apiKey: API_KEY, baseUrl: fx.http, model: DEEPGRAM_MODEL });
    const stream = engine.stream();
    stream.pushText(LONG);
    stream.flush();
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    expect(fx.gateway.sessions.live.size).toBe(1);
    stream.close();
    await expect.poll(() => fx.totalActive(), { timeout: 15_000 }).toBe(0);
    await engine.close();
  }, 30_000);
});

describe('@deepgram/sdk', () => {
  const client = (apiKey = API_KEY) => new DeepgramClient({ apiKey, baseUrl: fx.http, reconnect: false });

  it('speak.v1 live: Metadata, audio for Speak, Flushed after Flush, Cleared after Clear', async () => {
    const socket = await client().speak.v1.connect({ model: DEEPGRAM_MODEL, encoding: 'linear16', sample_rate: '16000', reconnectAttempts: 0 });
    const messages: { type?: string; sequence_id?: number }[] = [];
    let bytes = 0;
    socket.on('message', (m) => {
      if (typeof m === 'string' || m instanceof ArrayBuffer || ArrayBuffer.isView(m) || (typeof Blob !== 'undefined' && m instanceof Blob)) {
        if (typeof m !== 'string') bytes += (m as ArrayBuffer).byteLength ?? (m as Blob).size;
        return;
      }
      messages.push(m as { type?: string });
    });
    socket.connect();
    await socket.waitForOpen();
    socket.sendText({ type: 'Speak', text: 'Hello from the Deepgram SDK.' });
    socket.sendFlush({ type: 'Flush' });
    await expect.poll(() => messages.some((m) => m.type === 'Flushed'), { timeout: 5000 }).toBe(true);
    expect(messages[0]).toMatchObject({ type: 'Metadata', model_name: DEEPGRAM_MODEL });
    expect(bytes).toBeGreaterThan(16000);
    socket.sendText({ type: 'Speak', text: LONG });
    await expect.poll(() => fx.totalActive(), { timeout: 3000 }).toBeGreaterThan(0);
    socket.sendClear({ type: 'Clear' });
    await expect.poll(() => messages.find((m) => m.type === 'Cleared'), { timeout: 3000 }).toMatchObject({ sequence_id: 1 });
    await expect.poll(() => fx.totalActive(), { timeout: 1500 }).toBe(0);
    socket.close();
  });

  it('speak.v1.audio.generate (REST): a WAV body', async () => {
    const res = await client().speak.v1.audio.generate({ text: 'The REST endpoint speaks too.', model: DEEPGRAM_MODEL, encoding: 'linear16', sample_rate: 24000 });
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.subarray(0, 4).toString()).toBe('RIFF');
    expect(bytes.readUInt32LE(24)).toBe(24000);
    expect(bytes.length).toBeGreaterThan(44 + 24000);
  });

  it('REST: no encoding (Deepgram\'s mp3 default), a wrong key and an unknown model get Deepgram errors', async () => {
    const post = (query: string, key = API_KEY) => fetch(`${fx.http}/v1/speak?${query}`, { method: 'POST', headers: { authorization: `Token ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ text: 'Hi.' }) });
    const mp3 = await post(`model=${DEEPGRAM_MODEL}`);
    expect(mp3.status).toBe(400);
    expect(await mp3.json()).toMatchObject({ err_code: 'UNSUPPORTED_AUDIO_FORMAT', err_msg: expect.stringContaining('linear16') });
    const wrong = await post(`model=${DEEPGRAM_MODEL}&encoding=linear16`, 'nope');
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ err_code: 'INVALID_AUTH' });
    const model = await post('model=aura-nobody&encoding=mulaw');
    expect(model.status).toBe(400);
    expect(await model.json()).toMatchObject({ err_code: 'INVALID_MODEL' });
  });
});

describe('/v1/speak wire details', () => {
  it('bad messages get a Warning and the socket goes on; Close speaks what is buffered, then closes 1000', async () => {
    const s = await JsonSocket.open(`${fx.ws}/v1/speak?model=${DEEPGRAM_MODEL}&encoding=mulaw&sample_rate=8000`, { authorization: `Token ${API_KEY}` });
    await s.wait((m) => m.type === 'Metadata');
    s.send('nope');
    expect(await s.wait((m) => m.type === 'Warning')).toMatchObject({ code: 'INVALID_JSON', warn_code: 'INVALID_JSON' });
    s.send({ type: 'Shout', text: 'x' });
    await s.wait((m) => m.type === 'Warning' && m.code === 'UNKNOWN_MESSAGE_TYPE');
    s.send({ type: 'Speak', text: 'Words before the close' });
    s.send({ type: 'Close' });
    await expect.poll(() => s.closeCode, { timeout: 5000 }).toBe(1000);
    const audio = s.received.filter((m) => m.binary).reduce((n, m) => n + m.binary!.length, 0);
    // μ-law at 8 kHz: one byte a sample, well over a quarter second for four words.
    expect(audio).toBeGreaterThan(2000);
  });
});

describe('/v1/speak and a client that never reads', () => {
  it('is ended with a fatal Error (client_too_slow, close 1008) and holds no GPU request', async () => {
    const slowFx = await startCompatGateway({ latency: { first_audio_ms: 20, rtf: 0.05, chunk_ms: 100 }, session: { max_buffered_bytes: 16 * 1024, max_queued_turns: 4 } });
    try {
      const s = await JsonSocket.open(`${slowFx.ws}/v1/speak?model=${DEEPGRAM_MODEL}&encoding=linear16&sample_rate=48000`, { authorization: `Token ${API_KEY}` });
      await s.wait((m) => m.type === 'Metadata');
      (s.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      for (let i = 0; i < 12; i++) {
        s.send({ type: 'Speak', text: `${LONG} ` });
        s.send({ type: 'Flush' });
      }
      await expect.poll(() => slowFx.gateway.sessions.live.size, { timeout: 10_000 }).toBe(0);
      expect(slowFx.totalActive()).toBe(0);
      (s.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      expect(await s.wait((m) => m.type === 'Error')).toMatchObject({ code: 'CLIENT_TOO_SLOW', err_code: 'CLIENT_TOO_SLOW' });
      await expect.poll(() => s.closeCode, { timeout: 5000 }).toBe(1008);
    } finally {
      await slowFx.close();
    }
  }, 30_000);
});
