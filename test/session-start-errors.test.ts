/**
 * A session that cannot start: the session layer throws one protocol-neutral SessionStartError
 * (src/session/errors.ts), and every front end answers it in its own wire shape (docs/errors.md).
 * Here the pool's only instance is down and no fallback is configured: `no_capacity`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, CARTESIA_VOICE, DEEPGRAM_MODEL, ELEVENLABS_VOICE, startCompatGateway, type CompatFixture } from './helpers/compat-gateway.ts';
import { JsonSocket } from './helpers/json-socket.ts';
import { StreamClient } from './helpers/stream-client.ts';

let fx: CompatFixture;

beforeAll(async () => {
  fx = await startCompatGateway({ instances: 1 });
  await fx.fleet.instances[0]!.stop();
  // Health checks every 200 ms, fall 1: the instance is marked down within a few checks.
  const deadline = performance.now() + 15_000;
  while ((await fx.gateway.metrics.instanceUp.get()).values.some((v) => v.value !== 0)) {
    if (performance.now() > deadline) throw new Error('the stopped instance never went down');
    await new Promise((r) => setTimeout(r, 50));
  }
}, 60_000);

afterAll(async () => {
  await fx?.close();
});

const json = { 'content-type': 'application/json' };

/** The close code the server sent, once the socket has closed (the client does not close it). */
async function serverClose(socket: { closeCode: number | undefined }): Promise<number> {
  const deadline = performance.now() + 10_000;
  while (socket.closeCode === undefined) {
    if (performance.now() > deadline) throw new Error('the server never closed the socket');
    await new Promise((r) => setTimeout(r, 20));
  }
  return socket.closeCode;
}

describe('no_capacity at session start, in each front end’s terms', () => {
  it('native /v1/stream: a fatal no_capacity error, closed 1013', async () => {
    const client = await StreamClient.connect(`${fx.ws}/v1/stream?session_id=native-1`, { authorization: `Bearer ${API_KEY}` });
    client.send({ type: 'start', voice: 'af_heart' });
    expect(await client.waitType('error')).toMatchObject({ code: 'no_capacity', fatal: true });
    expect(await serverClose(client)).toBe(1013);
  });

  it('OpenAI POST /v1/audio/speech: 503 server_error no_capacity', async () => {
    const res = await fetch(`${fx.http}/v1/audio/speech`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, ...json }, body: JSON.stringify({ model: 'kokoro', input: 'Hello.', voice: 'af_heart', response_format: 'pcm' }) });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { type: 'server_error', code: 'no_capacity' } });
  });

  it('Cartesia /tts/websocket: an error reply, 429 no_capacity, on the context', async () => {
    const s = await JsonSocket.open(`${fx.ws}/tts/websocket`, { 'X-API-Key': API_KEY, 'Cartesia-Version': '2026-03-01' });
    s.send({ model_id: 'sonic-3', voice: { mode: 'id', id: CARTESIA_VOICE }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 16000 }, context_id: 'ctx-1', transcript: 'Hello.', continue: false });
    expect(await s.wait((m) => m.type === 'error')).toMatchObject({ status_code: 429, error_code: 'no_capacity', title: 'Too Many Requests', context_id: 'ctx-1' });
    await s.close();
  });

  it('Cartesia POST /tts/bytes: 429 no_capacity', async () => {
    const res = await fetch(`${fx.http}/tts/bytes`, { method: 'POST', headers: { 'X-API-Key': API_KEY, 'Cartesia-Version': '2026-03-01', ...json }, body: JSON.stringify({ model_id: 'sonic-3', voice: { mode: 'id', id: CARTESIA_VOICE }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 16000 }, transcript: 'Hello.' }) });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ error_code: 'no_capacity', status_code: 429 });
  });

  it('ElevenLabs POST /v1/text-to-speech/{voice}/stream: 429 {"detail":{"status":"no_capacity"}}', async () => {
    const res = await fetch(`${fx.http}/v1/text-to-speech/${ELEVENLABS_VOICE}/stream?output_format=pcm_16000`, { method: 'POST', headers: { 'xi-api-key': API_KEY, ...json }, body: JSON.stringify({ text: 'Hello.' }) });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ detail: { status: 'no_capacity' } });
  });

  it('Deepgram POST /v1/speak: 429 TOO_MANY_REQUESTS', async () => {
    const res = await fetch(`${fx.http}/v1/speak?model=${DEEPGRAM_MODEL}&encoding=linear16&sample_rate=16000`, { method: 'POST', headers: { authorization: `Token ${API_KEY}`, ...json }, body: JSON.stringify({ text: 'Hello.' }) });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ err_code: 'TOO_MANY_REQUESTS' });
  });

  it('Deepgram /v1/speak WebSocket: an Error message at open, then the socket closes 1013', async () => {
    const s = await JsonSocket.open(`${fx.ws}/v1/speak?model=${DEEPGRAM_MODEL}&encoding=linear16&sample_rate=16000`, { authorization: `Token ${API_KEY}` });
    expect(await s.wait((m) => m.type === 'Error')).toMatchObject({ err_code: 'TOO_MANY_REQUESTS' });
    expect(await serverClose(s)).toBe(1013);
  });
});
