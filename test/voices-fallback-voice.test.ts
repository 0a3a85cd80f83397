/**
 * Issue 24: a call in a library voice that fails over to a Cartesia fallback without a clone of
 * it (here: a plan without voice cloning) is spoken in the fallback's mapped default voice, and
 * the native protocol's `failover` event says so (`voice_changed: true`). A pool voice, which
 * the operator mapped on purpose, fails over with `voice_changed: false`. End to end over the
 * fleet simulator and the fake Cartesia.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startFakeCartesia, type FakeCartesia } from '../src/sim/cartesia.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { StreamClient } from './helpers/stream-client.ts';
import { referenceWav, uploadVoice } from './helpers/voices.ts';

const RATE = 24000;
const SENTENCES = ['Thanks for calling the support line today.', 'I can see your order in our system now.', 'It shipped yesterday from the main warehouse.', 'You should receive it by Thursday at the latest.'];

describe('failover to a fallback that lacks the library voice', () => {
  let fleet: SimFleet;
  let cartesia: FakeCartesia;
  let work: string;
  let gateway: Gateway;
  let wsUrl: string;
  let voiceId = '';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'voicegate-fallback-voice-'));
    fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 60, rtf: 0.25, chunk_ms: 100 } });
    cartesia = await startFakeCartesia({ apiKey: 'sk-test', ttfaMs: 40, rtf: 0.1, msPerChar: 60, cloning: false });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0, engine: 'ws' },
      pools: [
        {
          name: 'qwen',
          backend: 'openai',
          model: 'kokoro',
          voices: ['af_heart'],
          instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 8 })),
          health: { interval_ms: 100, timeout_ms: 300, fall: 2, rise: 2 },
          timeouts: { connect_ms: 300, first_audio_ms: 2000, stall_ms: 2000 },
          options: { voice_cloning: 'upload' },
        },
      ],
      fallback: { backend: 'cartesia', url: cartesia.url, api_key: 'sk-test', voice_map: { default: 'cartesia-default' }, timeouts: { first_audio_ms: 1500, stall_ms: 1500 } },
      voices: { dir: join(work, 'voices') },
    });
    gateway = await createGateway({ config });
    wsUrl = `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
    const answer = await uploadVoice(`http://127.0.0.1:${gateway.port}`, { name: 'Support Anna', language: 'en', pool: 'qwen', consent: 'consent-1' }, { bytes: await referenceWav(10, 300), filename: 'anna.wav' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    voiceId = answer.body.id as string;
  });

  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
    await cartesia?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A call in `voice` whose only instance dies after its first audio: the rest goes to Cartesia. */
  async function callThroughFailover(key: string, voice: string): Promise<StreamClient> {
    const client = await StreamClient.started(`${wsUrl}?session_id=${key}`, { type: 'start', voice, format: { encoding: 'pcm_s16le', sample_rate: RATE } });
    client.send({ type: 'text', text: SENTENCES.join(' ') });
    client.send({ type: 'flush' });
    await client.waitType('audio', 10_000);
    await fleet.instances[0]!.stop();
    try {
      await client.waitType('turn_end', 20_000);
    } finally {
      await fleet.instances[0]!.start();
    }
    expect(client.ofType('error')).toEqual([]);
    return client;
  }

  it('the upload succeeded without a Cartesia clone (the plan has none)', () => {
    expect(cartesia.clones().size).toBe(0);
    expect(gateway.voices.fallbackChangesVoice(voiceId)).toBe(true);
  });

  it('a library voice: the failover to cartesia says voice_changed, and Cartesia speaks the mapped default', async () => {
    const client = await callThroughFailover('lib-call', voiceId);
    try {
      const toFallback = client.ofType('failover').filter((f) => f.to === 'cartesia');
      expect(toFallback.length).toBeGreaterThan(0);
      for (const failover of toFallback) expect(failover).toMatchObject({ type: 'failover', from: 'sim-1', voice_changed: true });
      expect(client.ofType('segment').at(-1)!.provider).toBe('cartesia');
      expect(cartesia.requests().some((r) => JSON.stringify(r.voice).includes('cartesia-default'))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('a pool voice (mapped on purpose): the same failover says voice_changed false', async () => {
    // The instance must be seen up again before the next call pins to it.
    const deadline = Date.now() + 5000;
    while (!gateway.fleet.anyUp() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const client = await callThroughFailover('pool-call', 'af_heart');
    try {
      const toFallback = client.ofType('failover').filter((f) => f.to === 'cartesia');
      expect(toFallback.length).toBeGreaterThan(0);
      for (const failover of toFallback) expect(failover.voice_changed).toBe(false);
    } finally {
      await client.close();
    }
  });
});
