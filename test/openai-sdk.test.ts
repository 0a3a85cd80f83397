/**
 * The official `openai` SDK, pointed at voicegate, gets speech back (wav, pcm, SSE), lists
 * the models, and reads voicegate's errors as its own typed errors. Both engines.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWav } from '../src/audio/wav.ts';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';

const KEY = 'sk-voicegate-sdk-test';

let fleet: SimFleet;
beforeAll(async () => {
  fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.05, chunk_ms: 100 } });
});
afterAll(() => fleet.close());

function rmsOf(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return samples.length ? Math.sqrt(sum / samples.length) : 0;
}

describe.each(['uws', 'ws'] as const)('openai SDK against voicegate on %s', (engine) => {
  let gateway: Gateway;
  let client: OpenAI;

  beforeAll(async () => {
    gateway = await createGateway({
      config: parseConfig({
        server: { host: '127.0.0.1', port: 0, engine },
        auth: { api_keys: [KEY] },
        pools: [
          {
            name: 'kokoro',
            backend: 'openai',
            model: 'kokoro',
            // OpenAI's voice names (alloy…) reach af_heart through the pool's default voice_aliases.
            voices: ['af_heart'],
            instances: [{ id: 'sim-1', url: fleet.instances[0]!.url }],
            health: { interval_ms: 60_000 },
          },
        ],
      }),
    });
    const port = await gateway.listen();
    client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: KEY, maxRetries: 0, timeout: 10_000 });
  });
  afterAll(() => gateway?.close());

  it('audio.speech.create → arrayBuffer → a valid WAV with non-silent audio', async () => {
    const response = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello from voicegate. This is the second sentence.', response_format: 'wav' });
    expect(response.headers.get('x-request-id')).toBeTruthy();
    const pcm = decodeWav(new Uint8Array(await response.arrayBuffer()));
    expect(pcm.sampleRate).toBe(24000);
    expect(pcm.samples.length / 24000).toBeGreaterThan(2);
    expect(rmsOf(pcm.samples)).toBeGreaterThan(100);
  });

  it('pcm streams in several chunks', async () => {
    const response = await client.audio.speech.create({ model: 'kokoro', voice: 'af_heart', input: 'One. Two. Three.', response_format: 'pcm' });
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      chunks++;
    }
    expect(chunks).toBeGreaterThan(1);
    expect(bytes / 48000).toBeGreaterThanOrEqual(0.6);
  });

  it('stream_format sse: delta events and a done event with usage', async () => {
    const response = await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'Streaming over server-sent events.', response_format: 'pcm', stream_format: 'sse' });
    const events = (await response.text())
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => JSON.parse(e.slice(6)) as { type: string; audio?: string; usage?: { total_tokens: number } });
    const audio = events.filter((e) => e.type === 'speech.audio.delta').reduce((n, e) => n + Buffer.from(e.audio!, 'base64').length, 0);
    expect(audio / 48000).toBeGreaterThan(1);
    expect(events.at(-1)!.type).toBe('speech.audio.done');
    expect(events.at(-1)!.usage!.total_tokens).toBeGreaterThan(0);
  });

  it('models.list and models.retrieve', async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual(['kokoro']);
    expect((await client.models.retrieve('kokoro')).owned_by).toBe('voicegate');
  });

  it('errors arrive as the SDK typed errors with voicegate messages', async () => {
    const bad = (await client.audio.speech.create({ model: 'tts-1', voice: 'no-such-voice', input: 'x', response_format: 'wav' }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.BadRequestError>;
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.param).toBe('voice');
    expect(bad.message).toContain("voice 'no-such-voice' is not available");
    expect(bad.requestID).toBeTruthy();
    const anonymous = new OpenAI({ baseURL: client.baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
    await expect(anonymous.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'x', response_format: 'aac' })).rejects.toMatchObject({ status: 400, code: 'unsupported_response_format' });
  });
});
