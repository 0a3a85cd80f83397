/**
 * The voice library's routes on both transport engines (the upload body streams through
 * each engine's own reader): auth, a good upload, a reference every server refuses, and an
 * oversized upload cut off as it streams.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lcgNoise } from '../audio/analysis.ts';
import { encodeWav } from '../audio/wav.ts';
import { parseConfig } from '../config.ts';
import { createGateway, type Gateway } from '../gateway.ts';
import { startSimFleet, type SimFleet } from '../sim/fleet.ts';
import { referenceWav, uploadVoice } from '../../test/helpers/voices.ts';
import { loadUws } from './uws.ts';

const KEY = 'sk-voices';
const AUTH = { authorization: `Bearer ${KEY}` };
const engines = (['ws', 'uws'] as const).filter((e) => e === 'ws' || loadUws().uws !== null);

describe.each(engines)('voice routes on the %s engine', (engine) => {
  let fleet: SimFleet;
  let gateway: Gateway;
  let dir: string;
  let base: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voicegate-routes-'));
    fleet = await startSimFleet({ count: 2, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.05 } });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0, engine },
      auth: { api_keys: [KEY] },
      pools: [{ name: 'qwen', backend: 'openai', voices: ['af_heart'], instances: fleet.instances.map((i) => ({ id: i.id, url: i.url })), options: { voice_cloning: 'upload' } }],
      voices: { dir, max_upload_bytes: 8 * 1024 * 1024 },
    });
    gateway = await createGateway({ config, healthChecks: false });
    base = `http://127.0.0.1:${await gateway.listen()}`;
  });

  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('asks for the API key on every voice route', async () => {
    const wav = await referenceWav(5, 280);
    expect((await uploadVoice(base, { name: 'NoKey' }, { bytes: wav, filename: 'a.wav' })).status).toBe(401);
    expect((await fetch(`${base}/v1/audio/voices`)).status).toBe(401);
    expect((await fetch(`${base}/v1/audio/voices/voice_x00000000000`)).status).toBe(401);
    expect((await fetch(`${base}/v1/audio/voices/voice_x00000000000`, { method: 'DELETE' })).status).toBe(401);
    expect(gateway.voices.list()).toEqual([]);
  });

  it('uploads, lists, gets and deletes with the key', async () => {
    const up = await uploadVoice(base, { name: `Anna ${engine}` }, { bytes: await referenceWav(5, 280), filename: 'anna.wav' }, AUTH);
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    const id = up.body.id as string;
    expect(up.body.instances).toEqual(Object.fromEntries(fleet.instances.map((i) => [i.id, 'registered'])));
    const listed = (await (await fetch(`${base}/v1/audio/voices`, { headers: AUTH })).json()) as { data: { id: string; source: string }[] };
    expect(listed.data.filter((v) => v.source === 'library').map((v) => v.id)).toEqual([id]);
    expect((await fetch(`${base}/v1/audio/voices/${id}`, { headers: AUTH })).status).toBe(200);
    expect((await fetch(`${base}/v1/audio/voices/${id}`, { method: 'DELETE', headers: AUTH })).status).toBe(200);
    expect(gateway.voices.list()).toEqual([]);
  });

  it('a reference every instance refuses is rolled back with 422', async () => {
    // Loud noise: audio, not silent, but no voice in it (the simulator finds no pitch).
    const noise = encodeWav({ samples: lcgNoise(24000 * 5, 3, 12000), sampleRate: 24000 });
    const up = await uploadVoice(base, { name: 'Noise' }, { bytes: noise, filename: 'noise.wav' }, AUTH);
    expect(up.status).toBe(422);
    expect(up.body.error).toMatchObject({ code: 'rejected_by_backend' });
    expect(up.body.error!.message).toMatch(/refused/);
    expect(gateway.voices.list()).toEqual([]);
    expect(await readdir(dir)).toEqual(['.tmp']);
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
  });

  it('an upload over voices.max_upload_bytes is cut off with 413 as it streams', async () => {
    const boundary = 'b0undary';
    let sent = 0;
    async function* body(): AsyncGenerator<Buffer> {
      yield Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="name"\r\n\r\nBig\r\n--${boundary}\r\ncontent-disposition: form-data; name="audio"; filename="big.wav"\r\n\r\n`);
      yield (await referenceWav(1, 280)).subarray(0, 44);
      for (let i = 0; i < 12; i++) {
        sent += 1024 * 1024;
        yield Buffer.alloc(1024 * 1024, 3);
      }
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    }
    const res = await request(`${base}/v1/audio/voices`, { method: 'POST', body: Readable.from(body()), headers: { ...AUTH, 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expect(res.statusCode).toBe(413);
    expect(((await res.body.json()) as { error: { code: string } }).error.code).toBe('file_too_large');
    expect(sent).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
    // A declared length over the limit is refused before reading.
    const declared = await request(`${base}/v1/audio/voices`, { method: 'POST', body: Buffer.alloc(9 * 1024 * 1024), headers: { ...AUTH, 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expect(declared.statusCode).toBe(413);
    await declared.body.dump();
  });
});
