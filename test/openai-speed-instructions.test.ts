/**
 * `speed` and `instructions` on the OpenAI speech API (issue 21), with the official `openai` SDK
 * against a gateway whose pools are an OpenAI-compatible server and a Gradio Kokoro Space (the
 * simulator, which records what it received) and the embedded espeak engine:
 * - speed reaches every backend the way its API takes it (docs/http-api.md) and the audio is
 *   really faster or slower;
 * - instructions are passed to the OpenAI-compatible server (`x-voicegate-instructions: passed`)
 *   and reported as ignored where the backend has no such input.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';

let fleet: SimFleet;
let gateway: Gateway;
let client: OpenAI;

beforeAll(async () => {
  fleet = await startSimFleet({ instances: [{ protocol: 'openai' }, { protocol: 'gradio' }], controlPort: null, latency: { first_audio_ms: 10, rtf: 0.02, chunk_ms: 100 } });
  const pool = (name: string, backend: string, url: string, voices: string[]) => ({
    name,
    backend,
    model: name,
    voices,
    instances: [{ id: `${name}-1`, url, max_concurrency: 4 }],
    health: { interval_ms: 60_000 },
    timeouts: { first_audio_ms: 3000, stall_ms: 3000 },
  });
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    pools: [
      pool('kokoro', 'openai', fleet.instances[0]!.url, ['af_heart']),
      pool('space', 'gradio', fleet.instances[1]!.url, ['af_heart']),
      { name: 'embedded', backend: 'espeak', model: 'espeak', voices: ['en-us'], instances: [{ id: 'espeak-1', max_concurrency: 2 }] },
    ],
  });
  gateway = await createGateway({ config });
  client = new OpenAI({ baseURL: `http://127.0.0.1:${await gateway.listen()}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 });
});
afterAll(async () => {
  await gateway?.close();
  await fleet?.close();
});

const TEXT = 'Speed changes how long this sentence takes to say.';

/** Seconds of 24 kHz pcm in a response, and the response itself. */
async function speak(model: string, extra: { speed?: number; instructions?: string } = {}): Promise<{ seconds: number; headers: Headers }> {
  const response = await client.audio.speech.create({ model, voice: 'alloy', input: TEXT, response_format: 'pcm', ...extra });
  const bytes = (await response.arrayBuffer()).byteLength;
  return { seconds: bytes / 2 / 24000, headers: response.headers };
}

describe('speed, per backend', () => {
  it('OpenAI-compatible server: sent as `speed` (omitted at 1), and the audio is twice as fast at 2', async () => {
    const sim = fleet.instances[0]!;
    const normal = await speak('kokoro');
    expect(sim.received().at(-1)).not.toHaveProperty('speed');
    const fast = await speak('kokoro', { speed: 2 });
    expect(sim.received().at(-1)).toMatchObject({ input: TEXT, voice: 'af_heart', speed: 2 });
    expect(fast.seconds / normal.seconds).toBeCloseTo(0.5, 1);
  });

  it("Gradio Space: the app's speed input (`$speed` in inputs) carries it", async () => {
    const sim = fleet.instances[1]!;
    const normal = await speak('space');
    expect(sim.received().at(-1)).toEqual({ api_name: 'generate_first', data: [TEXT, 'af_heart', 1, true] });
    const slow = await speak('space', { speed: 0.5 });
    expect(sim.received().at(-1)).toEqual({ api_name: 'generate_first', data: [TEXT, 'af_heart', 0.5, true] });
    expect(slow.seconds / normal.seconds).toBeCloseTo(2, 1);
  });

  it("embedded espeak: its speaking rate (words per minute × speed)", async () => {
    const normal = await speak('embedded');
    const slow = await speak('embedded', { speed: 0.5 });
    // espeak's pauses do not all scale with the rate: about twice as long, not exactly.
    expect(slow.seconds / normal.seconds).toBeGreaterThan(1.6);
    expect(slow.seconds / normal.seconds).toBeLessThan(2.4);
  });
});

describe('instructions', () => {
  it('passed to an OpenAI-compatible server, and the response says so', async () => {
    const { headers } = await speak('kokoro', { instructions: 'Speak like a calm radio host.' });
    expect(headers.get('x-voicegate-instructions')).toBe('passed');
    expect(fleet.instances[0]!.received().at(-1)).toMatchObject({ input: TEXT, instructions: 'Speak like a calm radio host.' });
  });

  it('reported as ignored where the backend has no such input (Gradio generate_first, espeak)', async () => {
    for (const model of ['space', 'embedded']) {
      const { headers, seconds } = await speak(model, { instructions: 'Whisper.' });
      expect(headers.get('x-voicegate-instructions'), model).toBe('ignored');
      expect(seconds).toBeGreaterThan(0.5);
    }
    expect(JSON.stringify(fleet.instances[1]!.received().at(-1))).not.toContain('Whisper');
  });

  it('without instructions: no header, no field upstream', async () => {
    const { headers } = await speak('kokoro');
    expect(headers.get('x-voicegate-instructions')).toBeNull();
    expect(fleet.instances[0]!.received().at(-1)).not.toHaveProperty('instructions');
  });
});
