/**
 * Fidelity: the official `openai` SDK talks to the simulator's OpenAI-compatible endpoints
 * (Kokoro-FastAPI-like and ChatTTS-like) and gets audio it can decode.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWav } from '../src/audio/wav.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';

describe('openai SDK against the simulator', () => {
  let fleet: SimFleet;
  let kokoro: OpenAI;
  let chattts: OpenAI;
  beforeAll(async () => {
    fleet = await startSimFleet({
      instances: [{ protocol: 'openai' }, { protocol: 'chattts' }],
      controlPort: null,
      latency: { first_audio_ms: 20, rtf: 0.05, chunk_ms: 100 },
    });
    kokoro = new OpenAI({ baseURL: `${fleet.instances[0]!.url}/v1`, apiKey: 'x', maxRetries: 0 });
    chattts = new OpenAI({ baseURL: `${fleet.instances[1]!.url}/v1`, apiKey: 'x', maxRetries: 0 });
  });
  afterAll(() => fleet.close());

  it('audio.speech.create with response_format pcm streams 24 kHz s16le', async () => {
    const response = await kokoro.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello from the simulator.', response_format: 'pcm' });
    expect(response.headers.get('content-type')).toBe('audio/pcm');
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      chunks++;
    }
    // 25 characters × 70 ms ≈ 1.75 s of 24 kHz 16-bit audio.
    expect(bytes / 2 / 24000).toBeCloseTo(1.75, 1);
    expect(chunks).toBeGreaterThan(1);
  });

  it('response_format wav decodes (Kokoro-style sizes 0)', async () => {
    const response = await kokoro.audio.speech.create({ model: 'kokoro', voice: 'af_heart', input: 'Hello there.', response_format: 'wav' });
    const pcm = decodeWav(new Uint8Array(await response.arrayBuffer()));
    expect(pcm.sampleRate).toBe(24000);
    expect(pcm.samples.length / 24000).toBeCloseTo(0.84, 1);
  });

  it('ChatTTS-style: wav with stream true (sizes 0xFFFFFFFF) decodes', async () => {
    const response = await chattts.audio.speech.create({ model: 'tts-1', voice: 'echo', input: 'Hello there.', response_format: 'wav', stream: true } as OpenAI.Audio.SpeechCreateParams);
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(Buffer.from(bytes.subarray(4, 8)).readUInt32LE(0)).toBe(0xffffffff);
    expect(decodeWav(bytes).samples.length).toBeGreaterThan(0);
  });

  it('errors surface through the SDK with their status and message', async () => {
    await expect(kokoro.audio.speech.create({ model: 'nope', voice: 'alloy', input: 'x', response_format: 'pcm' })).rejects.toMatchObject({ status: 400 });
    const err = (await chattts.audio.speech.create({ model: 'tts-1', voice: 'nova', input: 'x', response_format: 'wav' }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(400);
    // ChatTTS speaks OpenAI's error shape, which the SDK reads.
    expect(err.message).toContain('voice nova is not available');
  });

  it('models.list works', async () => {
    const models = await kokoro.models.list();
    expect(models.data.map((m) => m.id)).toContain('kokoro');
  });
});
