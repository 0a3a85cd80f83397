/**
 * Overflow (issue: failover): when the pin stays full past queue_ms and no candidate has a
 * slot, the segment spills to the fallback; later segments go back to the pin when it has a
 * slot (return_after_spill), or the session moves to the fallback for good.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startFakeCartesia, type FakeCartesia } from '../src/sim/cartesia.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { checkCall } from './helpers/call-check.ts';
import { StreamClient } from './helpers/stream-client.ts';

const SENTENCES = ['The first sentence of this answer.', 'A second one follows it closely.', 'And a third one to finish.', 'Plus a fourth for good measure.'];

describe.each([true, false])('overflow with return_after_spill %s', (returnAfterSpill) => {
  let fleet: SimFleet;
  let cartesia: FakeCartesia;
  let gateway: Gateway;
  let url: string;

  beforeAll(async () => {
    // One GPU with a single stream slot; synthesis takes a while so the slot stays taken.
    fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 150, rtf: 0.3, chunk_ms: 100, max: 10 } });
    cartesia = await startFakeCartesia({ ttfaMs: 50, msPerChar: 70, rtf: 0.2 });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0 },
      session: { return_after_spill: returnAfterSpill, lookahead: 2 },
      pools: [{ name: 'gpu', backend: 'openai', voices: ['af_heart'], queue_ms: 100, instances: [{ id: 'gpu-1', url: fleet.instances[0]!.url, max_concurrency: 1 }] }],
      fallback: { backend: 'cartesia', url: cartesia.url, api_key: 'k', max_concurrency: 10 },
    });
    gateway = await createGateway({ config });
    url = `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
  });

  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
    await cartesia?.close();
  });

  it('spills the segment that found the pin full, and delivers every segment in order', async () => {
    const client = await StreamClient.connect(`${url}?session_id=spill-${returnAfterSpill}`);
    client.send({ type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 24000 } });
    expect(((await client.waitType('ready')) as Record<string, unknown>).instance).toBe('gpu-1');
    client.send({ type: 'text', text: SENTENCES.join(' ') });
    client.send({ type: 'flush' });
    await client.waitType('turn_end', 15_000);
    const report = checkCall(client, SENTENCES, 48, null);
    expect(report.problems).toEqual([]);
    const providers = client.ofType('segment').map((s) => s.provider);
    // Segment 0 takes the only slot; segment 1 (lookahead) waits queue_ms, then spills.
    expect(providers[0]).toBe('gpu-1');
    expect(providers[1]).toBe('cartesia');
    if (returnAfterSpill) expect(providers.slice(2)).toContain('gpu-1');
    else expect(providers.slice(2).every((p) => p === 'cartesia')).toBe(true);
    const metrics = await gateway.metrics.render();
    expect(metrics).toMatch(/voicegate_failovers_total\{from="gpu-1",to="cartesia",reason="overflow"\} [1-9]/);
    expect(metrics).toMatch(/voicegate_audio_seconds_total\{provider="cartesia"\} [0-9.]*[1-9]/);
    expect(metrics).toMatch(/voicegate_characters_total\{provider="cartesia"\} [1-9]/);
    await client.close();
  });
});
