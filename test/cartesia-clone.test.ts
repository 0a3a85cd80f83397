/**
 * Fidelity of the voice clone API: the official `@cartesia/cartesia-js` client's
 * `voices.clone()` against the fake Cartesia (plain http REST on loopback), and the gateway's
 * own clone call (src/voices/cartesia-clone.ts) against the same fake: both are accepted, and
 * a context with the clone's id speaks at the clip's pitch.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type CartesiaClient from '@cartesia/cartesia-js';
import { parseConfig } from '../src/config.ts';
import { createCartesiaBackend } from '../src/backends/cartesia/backend.ts';
import { Metrics } from '../src/metrics.ts';
import { startFakeCartesia, type FakeCartesia } from '../src/sim/cartesia.ts';
import { estimatePitchHz } from '../src/sim/signature.ts';
import { cartesiaRestBase, cloneOnCartesia } from '../src/voices/cartesia-clone.ts';
import { referenceWav } from './helpers/voices.ts';

// The SDK's CommonJS build (see cartesia-sdk.test.ts for why not the ESM one).
const sdk = createRequire(import.meta.url)('@cartesia/cartesia-js') as { default: typeof CartesiaClient; toFile: (data: Buffer, name: string) => Promise<unknown> };
const API_KEY = 'sk-clone-test';
let fake: FakeCartesia;

beforeAll(async () => {
  fake = await startFakeCartesia({ apiKey: API_KEY, ttfaMs: 10, rtf: 0.02, msPerChar: 50 });
});
afterAll(async () => {
  await fake?.close();
});

function fallbackConfig(apiKey = API_KEY) {
  return parseConfig({ pools: [{ name: 'p', backend: 'espeak', voices: ['en-us'], instances: [{}] }], fallback: { backend: 'cartesia', url: fake.url, api_key: apiKey } }).fallback!;
}

async function pitchOfVoice(voiceId: string): Promise<number> {
  const backend = createCartesiaBackend({ ...fallbackConfig(), voice_map: {} }, { metrics: new Metrics({ defaultMetrics: false }) });
  const parts: Int16Array[] = [];
  try {
    for await (const a of backend.synthesize({ text: 'Hello there, this is the cloned voice speaking now.', voice: voiceId }, new AbortController().signal)) {
      if ('samples' in a) parts.push(a.samples);
    }
  } finally {
    await backend.close();
  }
  const all = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return estimatePitchHz(all, 24000);
}

describe('voice clone API', () => {
  it('the REST base of the WebSocket URL', () => {
    expect(cartesiaRestBase('wss://api.cartesia.ai/tts/websocket')).toBe('https://api.cartesia.ai');
    expect(cartesiaRestBase('ws://127.0.0.1:8123/tts/websocket')).toBe('http://127.0.0.1:8123');
    expect(cartesiaRestBase('wss://proxy.example.com/cartesia/tts/websocket?x=1')).toBe('https://proxy.example.com/cartesia');
  });

  it('the official client clones a voice on the fake, which then speaks at the clip\'s pitch', async () => {
    const client = new sdk.default({ apiKey: API_KEY, baseURL: cartesiaRestBase(fake.url) });
    const clip = await sdk.toFile(await referenceWav(6, 260), 'anna.wav');
    const voice = await client.voices.clone({ clip: clip as never, name: 'Anna', language: 'en', description: 'support' });
    expect(voice).toMatchObject({ name: 'Anna', language: 'en', description: 'support' });
    expect(voice.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(fake.clones().get(voice.id)?.pitchHz).toBeCloseTo(260, -1);
    const hz = await pitchOfVoice(voice.id);
    expect(hz).toBeGreaterThan(260 * 0.88);
    expect(hz).toBeLessThan(260 * 1.12);
  });

  it('the fake refuses what the API refuses: no key, no clip', async () => {
    const bad = new sdk.default({ apiKey: 'wrong', baseURL: cartesiaRestBase(fake.url), maxRetries: 0 });
    await expect(bad.voices.clone({ clip: (await sdk.toFile(await referenceWav(6, 260), 'a.wav')) as never, name: 'x', language: 'en' })).rejects.toMatchObject({ status: 401 });
    const form = new FormData();
    form.append('name', 'x');
    form.append('language', 'en');
    const res = await fetch(`${cartesiaRestBase(fake.url)}/voices/clone`, { method: 'POST', body: form, headers: { authorization: `Bearer ${API_KEY}`, 'cartesia-version': '2025-04-16' } });
    expect(res.status).toBe(400);
  });

  it('the gateway\'s clone call is accepted the same way and gives the voice id', async () => {
    const before = fake.clones().size;
    const id = await cloneOnCartesia(fallbackConfig(), { name: 'Gateway voice', language: 'en-US', wav: await referenceWav(6, 310) }, AbortSignal.timeout(5000));
    expect(fake.clones().size).toBe(before + 1);
    expect(fake.clones().get(id)).toMatchObject({ name: 'Gateway voice', language: 'en' });
    expect(fake.clones().get(id)!.pitchHz).toBeCloseTo(310, -1);
    await expect(cloneOnCartesia(fallbackConfig('wrong-key'), { name: 'x', language: 'en', wav: await referenceWav(6, 310) }, AbortSignal.timeout(5000))).rejects.toThrow(/HTTP 401/);
  });
});
