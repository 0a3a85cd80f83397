/**
 * Every compressed format is streamed as produced through the gateway, not buffered (issue 21):
 * with the official `openai` SDK reading mp3, opus and flac, the first bytes arrive while the
 * last sentence has not even been sent to the GPU yet (the simulator records what it received;
 * lookahead 2 holds sentence 3 back until sentence 1 is synthesized, about a second here), and
 * the body comes in many chunks.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';

const SENTENCES = ['This is the first sentence of a longer answer.', 'Here comes the second one, a little later.', 'And the third sentence ends the answer.'];

let fleet: SimFleet;
let gateway: Gateway;
let client: OpenAI;

beforeAll(async () => {
  // rtf 0.4: a three-second sentence takes over a second to synthesize.
  fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.4, chunk_ms: 100 } });
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    session: { lookahead: 2 },
    pools: [{ name: 'kokoro', backend: 'openai', model: 'kokoro', voices: ['af_heart'], instances: [{ id: 'sim-1', url: fleet.instances[0]!.url, max_concurrency: 8 }], health: { interval_ms: 60_000 }, timeouts: { first_audio_ms: 5000, stall_ms: 5000 } }],
  });
  gateway = await createGateway({ config });
  client = new OpenAI({ baseURL: `http://127.0.0.1:${await gateway.listen()}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30_000 });
});
afterAll(async () => {
  await gateway?.close();
  await fleet?.close();
});

describe('compressed formats through the gateway', () => {
  it.each(['mp3', 'opus', 'flac'] as const)('%s: first bytes before the last sentence is even requested, then many chunks', async (format) => {
    const sim = fleet.instances[0]!;
    // This format's own sentences, told apart from the other tests' in the simulator's record.
    const sentences = SENTENCES.map((s) => `${s.slice(0, -1)}, in ${format}.`);
    const input = sentences.join(' ');
    const thisRequest = () => sim.received().filter((r) => typeof r.input === 'string' && r.input.endsWith(`, in ${format}.`));
    const response = await client.audio.speech.create({ model: 'kokoro', voice: 'alloy', input, response_format: format });
    let chunks = 0;
    let bytes = 0;
    let lastRequestedAtFirstChunk: boolean | null = null;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      if (chunks === 0) lastRequestedAtFirstChunk = thisRequest().some((r) => r.input === sentences[2]);
      chunks++;
      bytes += chunk.length;
    }
    expect(lastRequestedAtFirstChunk).toBe(false);
    expect(thisRequest().map((r) => r.input)).toEqual(sentences);
    expect(chunks).toBeGreaterThan(5);
    expect(bytes).toBeGreaterThan(4000);
  });
});
