/**
 * Admission (src/server/admission.ts): a process at server.max_sessions refuses one more
 * session cleanly (503 at the upgrade — a WebSocket counts from its upgrade, not its `start` —,
 * 503 on the HTTP speech API, /ready 503) while its calls go on; with server.refuse_when_lagging it refuses
 * new sessions while its own event loop lags, and not otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { StreamClient, refusedUpgrade } from './helpers/stream-client.ts';

const START = { type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 24000 } };
const started = (url: string) => StreamClient.started(url, START);

async function startedWhenTaken(url: string, deadlineMs = 10_000): Promise<StreamClient> {
  const deadline = performance.now() + deadlineMs;
  for (;;) {
    try {
      return await started(url);
    } catch (err) {
      if (performance.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

describe('admission', () => {
  let fleet: SimFleet;
  const gateways: Gateway[] = [];

  async function gateway(server: Record<string, unknown>): Promise<{ gw: Gateway; base: string }> {
    const gw = await createGateway({
      config: parseConfig({
        server: { host: '127.0.0.1', port: 0, ...server },
        pools: [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], instances: [{ id: 'gpu-1', url: fleet.instances[0]!.url, max_concurrency: 8 }] }],
      }),
    });
    gateways.push(gw);
    return { gw, base: `127.0.0.1:${await gw.listen()}` };
  }

  beforeAll(async () => {
    fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 30, rtf: 0.05, chunk_ms: 100 } });
  });

  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    await fleet?.close();
  });

  it('at server.max_sessions: refuses the next call at the upgrade (a socket counts from its upgrade) and on the speech API; /ready 503; calls in progress go on', async () => {
    const { gw, base } = await gateway({ max_sessions: 2 });
    const url = `ws://${base}/v1/stream`;
    // Upgraded, no start yet: it holds its place from the upgrade (issue 18: sockets that never
    // send start must not pile up uncounted).
    const late = await StreamClient.connect(url);
    const first = await started(url);

    const refused = await refusedUpgrade(url);
    expect(refused?.status).toBe(503);
    expect(refused?.body).toMatchObject({ type: 'error', code: 'at_capacity', fatal: true });

    // Its place was kept for it: the late start is taken.
    late.send(START);
    expect(await late.waitType('ready')).toMatchObject({ type: 'ready' });
    const second = late;

    const speech = await fetch(`http://${base}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'kokoro', input: 'Hello there.', voice: 'af_heart', response_format: 'pcm' }) });
    expect(speech.status).toBe(503);
    expect(speech.headers.get('retry-after')).toBe('1');
    expect(((await speech.json()) as { error: { code: string } }).error.code).toBe('at_capacity');

    const ready = await fetch(`http://${base}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/at capacity/);

    // The calls already here are whole.
    first.send({ type: 'text', text: 'The first call keeps talking.' });
    first.send({ type: 'flush' });
    await first.waitType('turn_end');
    expect(first.ofType('segment_end')).toHaveLength(1);
    expect(first.ofType('error')).toEqual([]);

    // A call ends: there is room again.
    await second.close();
    await expect.poll(async () => (await fetch(`http://${base}/ready`)).status).toBe(200);
    const next = await started(url);
    await next.close();
    await first.close();

    expect(await gw.metrics.render()).toMatch(/voicegate_sessions_total\{outcome="rejected"\} 2/);
  });

  it('with refuse_when_lagging: refuses new calls while the event loop lags, and takes them again after; without it, takes them', async () => {
    const shedding = await gateway({ refuse_when_lagging: true });
    const plain = await gateway({});
    // This process may already have lagged (a busy CI machine): retry until the call is in.
    const talking = await startedWhenTaken(`ws://${shedding.base}/v1/stream`);

    // The gateways run in this process: block its event loop as an overload would.
    const until = performance.now() + 400;
    while (performance.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 150)); // the lag probe fires late and records it

    const refused = await refusedUpgrade(`ws://${shedding.base}/v1/stream`);
    expect(refused?.status).toBe(503);
    expect(refused?.body).toMatchObject({ code: 'overloaded', fatal: true });
    expect(await refusedUpgrade(`ws://${plain.base}/v1/stream`)).toBeNull();

    // The call already started is not refused anything.
    talking.send({ type: 'text', text: 'Still here after the lag.' });
    talking.send({ type: 'flush' });
    await talking.waitType('turn_end');
    expect(talking.ofType('error')).toEqual([]);
    await talking.close();

    // Once the loop has kept time for the hold window (2 s), calls are taken again.
    await expect.poll(() => refusedUpgrade(`ws://${shedding.base}/v1/stream`), { timeout: 5000, interval: 250 }).toBeNull();
  });
});
