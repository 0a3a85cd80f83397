/**
 * The ElevenLabs drop-in (/v1/text-to-speech/{voice_id}/stream-input, /multi-stream-input and
 * /stream) with the official clients unchanged: `@elevenlabs/elevenlabs-js` (HTTP streaming;
 * its WebSocket API is types only) and `@livekit/agents-plugin-elevenlabs` (multi-stream-input
 * and /stream). Raw sockets check the wire details the clients depend on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAudio, rmsOf } from '../src/audio/encoders/decoders.testing.ts';
import { ElevenLabsClient } from '@elevenlabs/elevenlabs-js';
import * as elevenlabs from '@livekit/agents-plugin-elevenlabs';
import { initializeLogger } from '@livekit/agents';
import { API_KEY, ELEVENLABS_VOICE, startCompatGateway, type CompatFixture } from './helpers/compat-gateway.ts';
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

describe('@livekit/agents-plugin-elevenlabs', () => {
  const tts = () => new elevenlabs.TTS({ apiKey: API_KEY, baseURL: `${fx.http}/v1`, voiceId: ELEVENLABS_VOICE, encoding: 'pcm_22050' });

  it('stream(): two sentences in, 22.05 kHz frames out, the stream ends by itself', async () => {
    const engine = tts();
    const stream = engine.stream();
    stream.pushText('The first sentence is here. ');
    stream.pushText('And a second one follows it.');
    stream.endInput();
    let samples = 0;
    let final = false;
    for await (const event of stream) {
      if (event === Symbol.for('lk.tts.end') || typeof event !== 'object') continue;
      expect(event.frame.sampleRate).toBe(22050);
      samples += event.frame.samplesPerChannel;
      if (event.final) final = true;
    }
    expect(final).toBe(true);
    // Two sentences: well over a second of speech.
    expect(samples).toBeGreaterThan(22050);
    await engine.close();
  });

  it('closing the stream mid-sentence (barge-in) frees the GPU request', async () => {
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

  it('synthesize() (/stream): audio frames for the whole text', async () => {
    const engine = tts();
    let samples = 0;
    for await (const event of engine.synthesize('Hello from the one shot endpoint.')) samples += event.frame.samplesPerChannel;
    expect(samples).toBeGreaterThan(12000);
    await engine.close();
  });
});

describe('@elevenlabs/elevenlabs-js', () => {
  it('textToSpeech.stream: PCM streams back', async () => {
    const client = new ElevenLabsClient({ apiKey: API_KEY, baseUrl: fx.http, maxRetries: 0 });
    const body = await client.textToSpeech.stream(ELEVENLABS_VOICE, { text: 'Streaming from the SDK works.', modelId: 'eleven_flash_v2_5', outputFormat: 'pcm_16000' });
    let bytes = 0;
    for await (const chunk of body) bytes += chunk.length;
    expect(bytes % 2).toBe(0);
    expect(bytes).toBeGreaterThan(16000);
  });

  it('mp3_44100_128 (ElevenLabs\' default): an MP3 stream that a real decoder plays at 44.1 kHz', async () => {
    const client = new ElevenLabsClient({ apiKey: API_KEY, baseUrl: fx.http, maxRetries: 0 });
    const body = await client.textToSpeech.stream(ELEVENLABS_VOICE, { text: 'Streaming mp3 from the SDK works.', modelId: 'eleven_flash_v2_5', outputFormat: 'mp3_44100_128' });
    const parts: Uint8Array[] = [];
    for await (const chunk of body) parts.push(chunk);
    const decoded = await decodeAudio('mp3', Buffer.concat(parts), 44100);
    expect(decoded.sampleRate).toBe(44100);
    expect(decoded.samples.length / decoded.sampleRate).toBeGreaterThan(1);
    expect(rmsOf(decoded.samples)).toBeGreaterThan(0.01);
  });

  it('an output_format voicegate cannot make is refused with a clear error naming what is supported', async () => {
    const client = new ElevenLabsClient({ apiKey: API_KEY, baseUrl: fx.http, maxRetries: 0 });
    await expect(client.textToSpeech.stream(ELEVENLABS_VOICE, { text: 'Hi.', outputFormat: 'opus_48000_64' })).rejects.toMatchObject({ statusCode: 400, body: { detail: { status: 'output_format_not_supported', message: expect.stringContaining('mp3_44100_*') } } });
  });

  it('a wrong key is refused with 401 in ElevenLabs\' error shape', async () => {
    const client = new ElevenLabsClient({ apiKey: 'wrong', baseUrl: fx.http, maxRetries: 0 });
    await expect(client.textToSpeech.stream(ELEVENLABS_VOICE, { text: 'Hi.', outputFormat: 'pcm_16000' })).rejects.toMatchObject({ statusCode: 401, body: { detail: { status: 'invalid_api_key' } } });
  });
});

describe('stream-input and multi-stream-input wire details', () => {
  const url = (kind: string, query = 'output_format=pcm_16000') => `${fx.ws}/v1/text-to-speech/${ELEVENLABS_VOICE}/${kind}?model_id=eleven_flash_v2_5&${query}`;

  it('stream-input: init, text, {"text":""}: audio with alignment, isFinal, the socket closes 1000; the key may come in the first message', async () => {
    const s = await JsonSocket.open(url('stream-input'));
    s.send({ text: ' ', voice_settings: { stability: 0.5, similarity_boost: 0.8 }, xi_api_key: API_KEY });
    s.send({ text: 'Hello there, ' });
    s.send({ text: 'how are you today? ' });
    s.send({ text: '' });
    await s.wait((m) => m.isFinal === true);
    await expect.poll(() => s.closeCode).toBe(1000);
    const replies = s.json();
    const audio = replies.filter((m) => typeof m.audio === 'string');
    expect(audio.length).toBeGreaterThan(1);
    for (const m of audio) expect(m.contextId).toBeUndefined();
    const aligned = audio.filter((m) => m.alignment);
    expect(aligned.length).toBeGreaterThan(0);
    const chars = aligned.flatMap((m) => (m.alignment as { chars: string[] }).chars).join('');
    expect(chars.replace(/\s+/g, ' ')).toContain('how are you today?');
    expect(replies.at(-1)).toEqual({ isFinal: true });
  });

  it('stream-input: a wrong key in the first message closes with 1008 and an error', async () => {
    const s = await JsonSocket.open(url('stream-input'));
    s.send({ text: ' ', xi_api_key: 'wrong' });
    expect(await s.wait((m) => m.error !== undefined)).toMatchObject({ error: 'invalid_api_key' });
    await expect.poll(() => s.closeCode).toBe(1008);
  });

  it('multi-stream-input: close_context without a flush is barge-in: isFinal for it, GPU freed, the other context goes on', async () => {
    const s = await JsonSocket.open(url('multi-stream-input', 'output_format=ulaw_8000&auto_mode=true'), { 'xi-api-key': API_KEY });
    s.send({ text: ' ', context_id: 'a' });
    s.send({ text: `${LONG} `, context_id: 'a' });
    await s.wait((m) => m.contextId === 'a' && typeof m.audio === 'string');
    s.send({ context_id: 'a', close_context: true });
    await s.wait((m) => m.contextId === 'a' && m.isFinal === true);
    await expect.poll(() => fx.totalActive(), { timeout: 1500 }).toBe(0);
    s.send({ text: 'The other context speaks. ', context_id: 'b' });
    s.send({ text: '', context_id: 'b', flush: true });
    s.send({ context_id: 'b', close_context: true });
    await s.wait((m) => m.contextId === 'b' && m.isFinal === true);
    const bAudio = s.json().filter((m) => m.contextId === 'b' && typeof m.audio === 'string');
    expect(bAudio.length).toBeGreaterThan(0);
    s.send({ close_socket: true });
    await expect.poll(() => s.closeCode).toBe(1000);
  });

  it('bad messages get an error and the socket goes on; unknown voice and mp3 are refused at the upgrade', async () => {
    const s = await JsonSocket.open(url('multi-stream-input'), { 'xi-api-key': API_KEY });
    s.send('{oops');
    expect(await s.wait((m) => m.error === 'invalid_message')).toMatchObject({ code: 1008 });
    s.send({ context_id: 'x', text: 42 });
    await s.wait((m) => m.error === 'invalid_message' && m.contextId === 'x');
    s.send({ text: 'Still fine. ', context_id: 'c', flush: true });
    await s.wait((m) => m.contextId === 'c' && typeof m.audio === 'string');
    await s.close();
    const refused = await fetch(`${fx.http}/v1/text-to-speech/nobody/stream?output_format=pcm_16000`, { method: 'POST', headers: { 'xi-api-key': API_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ text: 'Hi.' }) });
    expect(refused.status).toBe(404);
    expect(await refused.json()).toMatchObject({ detail: { status: 'voice_not_found' } });
  });
});
