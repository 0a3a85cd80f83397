/**
 * Adaptive capacity end to end (pools[].capacity.mode adaptive): simulated GPUs comfortable at
 * 3 streams that slow down past it, a gateway configured far above that, and enough calls to
 * put 6 streams on each. The learned limits settle near the comfortable level, follow a GPU
 * whose capacity halves, and settle at 2 on servers that answer 503 past 2; nothing is lost
 * meanwhile (the wait queue absorbs it). Loopback only, bounded in time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { textDurationMs } from '../src/sim/audio.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import type { LatencyModel } from '../src/sim/latency.ts';
import { checkCall } from './helpers/call-check.ts';
import { StreamClient } from './helpers/stream-client.ts';

const RATE = 16000;
const START = { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: RATE } };
const SENTENCES = ['The order left the warehouse today.', 'It should arrive on Thursday.', 'You will get a text when it ships.'];

let fleet: SimFleet | null = null;
let gateway: Gateway | null = null;
afterEach(async () => {
  await gateway?.close();
  await fleet?.close();
  gateway = fleet = null;
});

async function rig(maxConcurrency: number, latency: Partial<LatencyModel>, target: number): Promise<string> {
  fleet = await startSimFleet({ count: 2, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 150, rtf: 0.1, chunk_ms: 200, comfortable: 3, slowdown: 0.35, max: 12, ...latency } });
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    pools: [
      {
        name: 'kokoro',
        backend: 'openai',
        voices: ['af_heart'],
        instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: maxConcurrency })),
        capacity: { mode: 'adaptive', target_first_audio_ms: target },
        timeouts: { first_audio_ms: 3000, stall_ms: 3000 },
      },
    ],
  });
  gateway = await createGateway({ config });
  return `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
}

/** `calls` calls speaking turn after turn until `stop()`; resolves with their problems. */
function load(url: string, calls: number) {
  let stopped = false;
  const problems: string[] = [];
  const done = Promise.all(
    Array.from({ length: calls }, async (_, i) => {
      while (!stopped) {
        const c = await StreamClient.started(`${url}?session_id=load-${i}`, START);
        for (const s of SENTENCES) c.send({ type: 'text', text: `${s} ` });
        c.send({ type: 'flush' });
        await c.waitType('turn_end', 30_000);
        problems.push(...checkCall(c, SENTENCES, (RATE * 2) / 1000, (t) => textDurationMs(t.trim())).problems.map((p) => `call ${i}: ${p}`));
        await c.close();
      }
    }),
  );
  return {
    stop: async () => {
      stopped = true;
      await done;
      return problems;
    },
  };
}

function limits(): number[] {
  return gateway!.fleet.snapshot().map((s) => s.capacity);
}

describe('adaptive capacity', () => {
  it('settles within one stream of the comfortable level (configured 8), then follows a GPU whose capacity halves; nothing lost', async () => {
    const url = await rig(8, {}, 225);
    const traffic = load(url, 12); // lookahead 2: up to 24 streams wanted, 6 per instance and more
    await expect.poll(() => limits().every((l) => Math.abs(l - 3) <= 1), { timeout: 30_000, interval: 250 }).toBe(true);
    // The configured cap is still shown beside the learned one.
    const metrics = await gateway!.metrics.render();
    expect(metrics).toMatch(/voicegate_instance_capacity_configured\{pool="kokoro",instance="sim-1"\} 8/);
    expect(metrics).toMatch(/voicegate_instance_capacity\{pool="kokoro",instance="sim-1"\} [2-4]\n/);
    // sim-1's capacity halves (comfortable 3 → 1): its limit follows within 30 s.
    (fleet!.instances[0]!.latency as LatencyModel).comfortable = 1;
    await expect.poll(() => limits()[0]! <= 2, { timeout: 30_000, interval: 250 }).toBe(true);
    expect(await traffic.stop()).toEqual([]);
  }, 90_000);

  it('servers that answer 503 past 2 while the config says 4: the learned limit settles at 2 and no sentence is lost', async () => {
    const url = await rig(4, { max: 2, comfortable: 2, over_capacity_status: 503 }, 0);
    const traffic = load(url, 8);
    await expect.poll(() => limits().every((l) => l === 2), { timeout: 30_000, interval: 250 }).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    expect(limits().every((l) => l <= 2)).toBe(true);
    expect(await traffic.stop()).toEqual([]);
  }, 90_000);
});
