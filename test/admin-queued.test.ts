/**
 * GET /admin/instances `queued` (issue #17, Routing): the segments that really wait for an
 * instance, and only while they wait. A segment that finds its pin full waits in the pool's
 * wait queue; once it gives up (session.max_wait_ms) it is no longer counted, even though the
 * slot it waited for is still held (the first version kept it as `queued` until the next release).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { StreamClient } from './helpers/stream-client.ts';

const LONG = 'This first sentence is long on purpose, so that the only stream slot stays busy for several seconds of real time audio.';
const SHORT = 'A second one waits.';

interface Status {
  id: string;
  streams: number;
  queued: number;
}

describe('GET /admin/instances queued', () => {
  let fleet: SimFleet;
  let gateway: Gateway;
  let base: string;

  beforeAll(async () => {
    // One GPU with one stream slot, speaking in real time: the first segment holds the slot for seconds.
    fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 100, rtf: 1, chunk_ms: 100, max: 10 } });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0 },
      session: { lookahead: 2, max_wait_ms: 1500 },
      pools: [{ name: 'gpu', backend: 'openai', voices: ['af_heart'], queue_ms: 100, timeouts: { stall_ms: 10_000 }, instances: [{ id: 'gpu-1', url: fleet.instances[0]!.url, max_concurrency: 1 }] }],
    });
    gateway = await createGateway({ config });
    base = `127.0.0.1:${await gateway.listen()}`;
  });

  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
  });

  const status = async (): Promise<Status> => {
    const res = await fetch(`http://${base}/admin/instances`);
    const { instances } = (await res.json()) as { instances: Status[] };
    return instances.find((i) => i.id === 'gpu-1')!;
  };

  it('counts a segment waiting for its full pin, and stops counting it when it gives up while the slot is still held', async () => {
    const client = await StreamClient.connect(`ws://${base}/v1/stream?session_id=queued-1`);
    client.send({ type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 24000 } });
    await client.waitType('ready');
    client.send({ type: 'text', text: `${LONG} ${SHORT}` });
    client.send({ type: 'flush' });

    // Segment 0 streams; segment 1 (lookahead) finds the pin full and waits for it.
    await expect.poll(status, { timeout: 5000, interval: 25 }).toMatchObject({ streams: 1, queued: 1 });
    // After max_wait_ms it gives up: no longer queued, while segment 0 still holds the slot.
    await expect.poll(status, { timeout: 5000, interval: 25 }).toMatchObject({ queued: 0 });
    expect(await status()).toMatchObject({ streams: 1 });
    expect(await gateway.metrics.render()).toMatch(/voicegate_segments_given_up_total\{pool="gpu",reason="max_wait"\} [1-9]/);
    await client.close();
  });
});
