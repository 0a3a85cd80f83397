/**
 * The voice library shared by two replicas (issue #24 item 2 with cluster.redis_url): the index
 * in a real Redis, the audio on one folder both replicas mount. A voice uploaded on A is listed
 * and spoken (the simulator's cloned-voice pitch) on B; deleted on B, it is gone from A.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { startRedis, type RunningRedis } from './helpers/redis.ts';
import { StreamClient } from './helpers/stream-client.ts';
import { pitchOf, referenceWav, uploadVoice } from './helpers/voices.ts';

const RATE = 24000;
const CLONE_HZ = 300;

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('cluster: the voice library index shared through Redis', () => {
  let redis: RunningRedis;
  let fleet: SimFleet;
  let work: string;
  const replicas: { gateway: Gateway; base: string }[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    work = await mkdtemp(join(tmpdir(), 'voicegate-cluster-voices-'));
    fleet = await startSimFleet({ count: 2, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 40, rtf: 0.25, chunk_ms: 100 } });
    for (let i = 0; i < 2; i++) {
      const config = parseConfig({
        server: { host: '127.0.0.1', port: 0, engine: 'ws' },
        cluster: { redis_url: redis.url, command_timeout_ms: 2000 },
        pools: [
          {
            name: 'qwen',
            backend: 'openai',
            model: 'kokoro',
            voices: ['af_heart'],
            instances: fleet.instances.map((inst) => ({ id: inst.id, url: inst.url, max_concurrency: 8 })),
            health: { interval_ms: 100, timeout_ms: 300, fall: 2, rise: 2 },
            timeouts: { connect_ms: 300, first_audio_ms: 3000, stall_ms: 3000 },
            options: { voice_cloning: 'upload' },
          },
        ],
        // One folder for both: the shared volume of docs/voices.md.
        voices: { dir: join(work, 'voices') },
      });
      const gateway = await createGateway({ config });
      replicas.push({ gateway, base: `http://127.0.0.1:${await gateway.listen()}` });
    }
    for (const r of replicas) await until(async () => /^voicegate_cluster_redis_up 1$/m.test(await (await fetch(`${r.base}/metrics`)).text()), 10_000);
  }, 30_000);

  afterAll(async () => {
    for (const r of replicas) await r.gateway.close();
    await fleet?.close();
    await redis?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const libraryIds = async (base: string): Promise<string[]> => {
    const list = (await (await fetch(`${base}/v1/audio/voices`)).json()) as { data: { id: string; source: string }[] };
    return list.data.filter((v) => v.source === 'library').map((v) => v.id);
  };

  it('a voice uploaded on A is listed and spoken on B; deleted on B, it is gone from A', async () => {
    const [a, b] = replicas as [{ gateway: Gateway; base: string }, { gateway: Gateway; base: string }];
    const answer = await uploadVoice(a.base, { name: 'Shared Anna', pool: 'qwen', consent: 'c-1' }, { bytes: await referenceWav(10, CLONE_HZ, 44100), filename: 'anna.wav' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const id = answer.body.id as string;

    await until(async () => (await libraryIds(b.base)).includes(id), 5000);
    // B speaks it: its instances get it registered on first use, the audio has the clone's pitch.
    for (const inst of fleet.instances) inst.clonedVoices.clear();
    const client = await StreamClient.started(`ws://${b.base.slice('http://'.length)}/v1/stream?session_id=shared-voice-1`, { type: 'start', voice: id, format: { encoding: 'pcm_s16le', sample_rate: RATE } });
    client.send({ type: 'text', text: 'Thanks for calling the support line today.' });
    client.send({ type: 'flush' });
    await client.waitType('turn_end', 20_000);
    expect(client.ofType('error')).toEqual([]);
    const hz = pitchOf(client.audioBytes(), RATE);
    expect(hz).toBeGreaterThan(CLONE_HZ * 0.88);
    expect(hz).toBeLessThan(CLONE_HZ * 1.12);
    await client.close();

    const deleted = await fetch(`${b.base}/v1/audio/voices/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    await until(async () => !(await libraryIds(a.base)).includes(id), 5000);
    expect((await fetch(`${a.base}/v1/audio/voices/${id}`)).status).toBe(404);
  }, 60_000);
});
