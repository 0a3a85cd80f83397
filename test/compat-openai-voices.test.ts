/**
 * OpenAI's voice names on the drop-in front ends (issue 21): a Cartesia, ElevenLabs or Deepgram
 * client naming `alloy` (not in the compat voice_map) gets the pool voice `alloy` is an alias of,
 * as on the HTTP speech API and /v1/stream. The simulator records the voice it was asked for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startCompatGateway, type CompatFixture } from './helpers/compat-gateway.ts';

let fx: CompatFixture;
beforeAll(async () => {
  fx = await startCompatGateway();
});
afterAll(async () => {
  await fx?.close();
});

/** The voice the last synthesis request asked the simulator for, across its instances. */
function lastVoices(): unknown[] {
  return fx.fleet.instances.flatMap((i) => i.received().map((r) => r.voice));
}

describe('OpenAI voice names on the drop-in front ends', () => {
  it.each([
    [
      'Cartesia /tts/bytes',
      () =>
        fetch(`${fx.http}/tts/bytes`, {
          method: 'POST',
          headers: { 'x-api-key': API_KEY, 'cartesia-version': '2025-04-16', 'content-type': 'application/json' },
          body: JSON.stringify({ model_id: 'sonic-2', transcript: 'Hello there.', voice: { mode: 'id', id: 'alloy' }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 24000 } }),
        }),
    ],
    [
      'ElevenLabs /v1/text-to-speech/{voice}/stream',
      () =>
        fetch(`${fx.http}/v1/text-to-speech/alloy/stream?output_format=pcm_24000`, {
          method: 'POST',
          headers: { 'xi-api-key': API_KEY, 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'Hello there.', model_id: 'eleven_flash_v2_5' }),
        }),
    ],
    [
      'Deepgram /v1/speak',
      () =>
        fetch(`${fx.http}/v1/speak?model=alloy&encoding=linear16&sample_rate=24000&container=none`, {
          method: 'POST',
          headers: { authorization: `Token ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'Hello there.' }),
        }),
    ],
  ])('%s with voice "alloy" speaks the pool voice it is an alias of', async (_name, send) => {
    const before = lastVoices().length;
    const res = await send();
    expect(res.status, await res.clone().text().then((t) => t.slice(0, 200))).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(24000);
    expect(lastVoices().slice(before)).toEqual(['af_heart']);
  });
});
