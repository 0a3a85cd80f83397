/**
 * The voice library end to end (issue 24's acceptance), on the fleet simulator and the fake
 * Cartesia: upload, speak on the pin, fail over mid-call in the same cloned voice, survive an
 * instance restart, export/wipe/import onto a fresh gateway, and bad uploads refused cleanly.
 * The simulator's cloned voices speak at their reference's pitch (src/sim/signature.ts): the
 * reference here buzzes at 300 Hz, the simulator's own voice at 120 Hz.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startFakeCartesia, type FakeCartesia } from '../src/sim/cartesia.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { checkCall } from './helpers/call-check.ts';
import { StreamClient } from './helpers/stream-client.ts';
import { pitchOf, referenceWav, uploadVoice } from './helpers/voices.ts';

const RATE = 24000;
const CLONE_HZ = 300;
const SIM_HZ = 120;
const SENTENCES = ['Thanks for calling the support line today.', 'I can see your order in our system now.', 'It shipped yesterday from the main warehouse.', 'You should receive it by Thursday at the latest.'];
const execFileAsync = promisify(execFile);
/** `npm run voices -- …` without npm's start-up: node with tsx, as the script runs it. */
const voicesCli = (...args: string[]) => execFileAsync(process.execPath, ['--import', 'tsx', 'src/cli/voices.ts', ...args], { timeout: 60_000 });

/** Pitch close to the clone's (the fake Cartesia's contour wanders ±8 % around it). */
function expectClonePitch(hz: number): void {
  expect(hz).toBeGreaterThan(CLONE_HZ * 0.88);
  expect(hz).toBeLessThan(CLONE_HZ * 1.12);
}

describe('voice library end to end', () => {
  let fleet: SimFleet;
  let cartesia: FakeCartesia;
  let dir: string;
  let work: string;
  let config: Config;
  let gateway: Gateway;
  let base: string;
  let wsUrl: string;
  let voiceId = '';

  const makeConfig = (): Config =>
    parseConfig({
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
        { name: 'plain', backend: 'espeak', voices: ['en-us'], instances: [{ id: 'espeak-1' }] },
      ],
      fallback: { backend: 'cartesia', url: cartesia.url, api_key: 'sk-test', voice_map: { default: 'cartesia-default' }, timeouts: { first_audio_ms: 1500, stall_ms: 1500 } },
      voices: { dir },
    });

  async function startGateway(): Promise<void> {
    config = makeConfig();
    gateway = await createGateway({ config });
    const port = await gateway.listen();
    base = `http://127.0.0.1:${port}`;
    wsUrl = `ws://127.0.0.1:${port}/v1/stream`;
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'voicegate-voices-'));
    dir = join(work, 'voices');
    fleet = await startSimFleet({ count: 3, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 60, rtf: 0.25, chunk_ms: 100 } });
    cartesia = await startFakeCartesia({ apiKey: 'sk-test', ttfaMs: 40, rtf: 0.1, msPerChar: 60 });
    await startGateway();
  });

  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
    await cartesia?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function call(key: string, voice: string, sentences = SENTENCES.slice(0, 2)): Promise<StreamClient> {
    const client = await StreamClient.started(`${wsUrl}?session_id=${key}`, { type: 'start', voice, format: { encoding: 'pcm_s16le', sample_rate: RATE } });
    client.send({ type: 'text', text: sentences.join(' ') });
    client.send({ type: 'flush' });
    return client;
  }

  /** A session key the gateway pins to `instance` (tries keys until one lands there). */
  async function keyPinnedTo(instance: string): Promise<string> {
    for (let i = 0; i < 60; i++) {
      const key = `probe-${instance}-${i}`;
      const client = await StreamClient.started(`${wsUrl}?session_id=${key}`, { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: RATE } });
      const ready = client.ofType('ready')[0]!;
      await client.close();
      if (ready.instance === instance) return key;
    }
    throw new Error(`no key pins to ${instance}`);
  }

  it('uploads a 10 s WAV: 201, stored, registered on every instance and cloned on Cartesia', async () => {
    const answer = await uploadVoice(base, { name: 'Support Anna', ref_text: 'Hello, this is Anna from support.', language: 'en', pool: 'qwen', consent: 'consent-1' }, { bytes: await referenceWav(10, CLONE_HZ, 44100), filename: 'anna.wav' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    voiceId = answer.body.id as string;
    expect(voiceId).toMatch(/^voice_[a-z0-9]+$/);
    expect(answer.body).toMatchObject({ object: 'voice', name: 'Support Anna', pool: 'qwen', source: 'library', language: 'en', ref_text: 'Hello, this is Anna from support.' });
    expect(answer.body.duration_seconds).toBeCloseTo(10, 0);
    expect(Object.values(answer.body.instances as Record<string, string>)).toEqual(['registered', 'registered', 'registered']);
    for (const inst of fleet.instances) expect([...inst.clonedVoices.keys()]).toContain(voiceId);
    // The fallback clone: one clone, the reference's pitch, its id kept in the metadata.
    const clones = [...cartesia.clones().values()];
    expect(clones).toHaveLength(1);
    expect(answer.body.cartesia_voice_id).toBe(clones[0]!.id);
    expectClonePitch(clones[0]!.pitchHz);
    // On disk: one folder with the normalized clip and its metadata, nothing left in .tmp.
    expect((await readdir(dir)).sort()).toEqual(['.tmp', voiceId].sort());
    expect((await readdir(join(dir, voiceId))).sort()).toEqual(['reference.wav', 'voice.json']);
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
  });

  it('lists the voice beside the pools\' own, and serves it by id', async () => {
    const list = (await (await fetch(`${base}/v1/audio/voices`)).json()) as { data: Record<string, unknown>[] };
    const library = list.data.filter((v) => v.source === 'library');
    expect(library).toEqual([expect.objectContaining({ id: voiceId, name: 'Support Anna', pool: 'qwen', model: 'kokoro' })]);
    expect(list.data.find((v) => v.id === 'af_heart')).toMatchObject({ source: 'pool', pool: 'qwen' });
    const one = await fetch(`${base}/v1/audio/voices/${voiceId}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ id: voiceId, source: 'library' });
    const missing = await fetch(`${base}/v1/audio/voices/voice_doesnotexist00`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('voice_not_found');
  });

  it('a call with voice: <id> speaks the cloned voice on its pinned instance', async () => {
    const client = await call('clone-call-1', voiceId);
    await client.waitType('turn_end', 15_000);
    const ready = client.ofType('ready')[0]!;
    expect(ready.pool).toBe('qwen');
    expect(client.ofType('segment').map((s) => s.provider)).toEqual([ready.instance, ready.instance]);
    expect(client.ofType('error')).toEqual([]);
    expectClonePitch(pitchOf(client.audioBytes(), RATE));
    await client.close();
    // The HTTP speech API takes the id as well.
    const speech = await fetch(`${base}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'kokoro', voice: voiceId, input: SENTENCES[0], response_format: 'pcm' }) });
    expect(speech.status).toBe(200);
    expectClonePitch(pitchOf(Buffer.from(await speech.arrayBuffer()), RATE));
    // The control: the pool's own voice on the same fleet has the simulator's pitch.
    const plain = await call('clone-call-1', 'af_heart');
    await plain.waitType('turn_end', 15_000);
    expect(Math.abs(pitchOf(plain.audioBytes(), RATE) - SIM_HZ)).toBeLessThan(10);
    await plain.close();
  });

  it('kill the pinned instance mid-call: the call goes on elsewhere in the same cloned voice, nothing lost', async () => {
    const client = await call('clone-failover', voiceId, SENTENCES);
    const pin = client.ofType('ready')[0]!.instance as string;
    await client.waitType('audio', 10_000);
    await fleet.instance(pin)!.stop();
    try {
      await client.waitType('turn_end', 20_000);
      const report = checkCall(client, SENTENCES, (RATE * 2) / 1000, null);
      expect(report.problems).toEqual([]);
      expect(report.failovers.length).toBeGreaterThan(0);
      // Another instance of the pool holds the voice: the failover says it did not change.
      for (const failover of client.ofType('failover')) expect(failover.voice_changed).toBe(false);
      // Audio after the first failover came from elsewhere, in the cloned voice.
      const at = client.events.findIndex((e) => e.type === 'failover');
      const after = Buffer.concat(client.events.slice(at).filter((e): e is { type: 'audio'; bytes: Buffer } => e.type === 'audio').map((e) => e.bytes));
      expect(after.length).toBeGreaterThan(RATE); // half a second at least
      expectClonePitch(pitchOf(after, RATE));
      expect(report.providers.at(-1)).not.toBe(pin);
    } finally {
      await fleet.instance(pin)!.start();
      await client.close();
    }
  });

  it('restart an instance (it forgets its voices): the next call pinned to it speaks the cloned voice', async () => {
    const target = fleet.instances[0]!;
    const key = await keyPinnedTo(target.id);
    // Quicker than the health checks notice: the gateway still believes the voice is there.
    await target.stop();
    await target.start();
    expect(target.clonedVoices.size).toBe(0);
    const client = await call(key, voiceId);
    await client.waitType('turn_end', 15_000);
    expect(client.ofType('ready')[0]!.instance).toBe(target.id);
    expect(client.ofType('segment').map((s) => s.provider)).toEqual([target.id, target.id]);
    expectClonePitch(pitchOf(client.audioBytes(), RATE));
    expect([...target.clonedVoices.keys()]).toEqual([voiceId]);
    await client.close();
  });

  it('an instance that comes back up (seen down, then up) gets the voice before any call asks', async () => {
    const target = fleet.instances[1]!;
    const health = () => gateway.fleet.snapshot().find((i) => i.id === target.id)!.health;
    const until = async (done: () => boolean, what: string) => {
      const deadline = Date.now() + 10_000;
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await target.stop();
    await until(() => health() === 'down', 'the gateway to see it down');
    await target.start();
    expect(target.clonedVoices.size).toBe(0);
    await until(() => health() === 'up', 'the gateway to see it up');
    // Listed, found missing, registered: no call involved.
    await until(() => target.clonedVoices.has(voiceId), 'the voice on the instance');
  });

  it('bad uploads get clear 4xx and leave the library unchanged', async () => {
    const before = await readdir(dir);
    const wav = await referenceWav(10, CLONE_HZ);
    const cases: [string, Promise<{ status: number; body: { error?: { code: string; message: string } } }>, number, string][] = [
      ['text renamed .wav', uploadVoice(base, { name: 'Text' }, { bytes: Buffer.from('This is just a text file, not audio at all.\n'.repeat(50)), filename: 'notes.wav' }), 415, 'unsupported_audio'],
      ['missing name', uploadVoice(base, { pool: 'qwen' }, { bytes: wav, filename: 'a.wav' }), 400, 'missing_field'],
      ['missing audio', uploadVoice(base, { name: 'No audio' }, null), 400, 'missing_field'],
      ['too short', uploadVoice(base, { name: 'Short' }, { bytes: await referenceWav(1, CLONE_HZ), filename: 'short.wav' }), 400, 'audio_too_short'],
      ['too long', uploadVoice(base, { name: 'Long' }, { bytes: await referenceWav(75, CLONE_HZ), filename: 'long.wav' }), 400, 'audio_too_long'],
      ['silent', uploadVoice(base, { name: 'Silent' }, { bytes: Buffer.concat([wav.subarray(0, 44), Buffer.alloc(wav.length - 44)]), filename: 'silent.wav' }), 400, 'audio_silent'],
      ['unknown pool', uploadVoice(base, { name: 'Pool?', pool: 'nope' }, { bytes: wav, filename: 'a.wav' }), 400, 'unknown_pool'],
      ['a pool that cannot clone', uploadVoice(base, { name: 'Espeak', pool: 'plain' }, { bytes: wav, filename: 'a.wav' }), 400, 'pool_cannot_clone'],
      ['duplicate name', uploadVoice(base, { name: 'Support Anna' }, { bytes: wav, filename: 'a.wav' }), 409, 'duplicate_name'],
      ['truncated WAV', uploadVoice(base, { name: 'Broken' }, { bytes: wav.subarray(0, 30), filename: 'a.wav' }), 400, 'invalid_audio'],
    ];
    for (const [what, pending, status, code] of cases) {
      const answer = await pending;
      expect(answer.status, what).toBe(status);
      expect(answer.body.error?.code, what).toBe(code);
      expect(answer.body.error?.message.length, what).toBeGreaterThan(10);
    }
    const notMultipart = await fetch(`${base}/v1/audio/voices`, { method: 'POST', body: JSON.stringify({ name: 'x' }), headers: { 'content-type': 'application/json' } });
    expect(notMultipart.status).toBe(400);
    expect(((await notMultipart.json()) as { error: { code: string } }).error.code).toBe('not_multipart');
    expect(await readdir(dir)).toEqual(before);
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
    expect(gateway.voices.list().map((v) => v.id)).toEqual([voiceId]);
  });

  it('a 60 MB upload is refused with 413 while it streams, never held in memory', async () => {
    const boundary = 'voicegate-test-boundary';
    const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="name"\r\n\r\nHuge\r\n--${boundary}\r\ncontent-disposition: form-data; name="audio"; filename="huge.wav"\r\ncontent-type: audio/wav\r\n\r\n`);
    const wavHead = (await referenceWav(1, CLONE_HZ)).subarray(0, 44);
    const chunk = Buffer.alloc(1024 * 1024, 1);
    let sent = 0;
    // Chunked (no content-length), so the gateway must count as it reads.
    async function* body(): AsyncGenerator<Buffer> {
      yield head;
      yield wavHead;
      for (let i = 0; i < 60; i++) {
        sent += chunk.length;
        yield chunk;
      }
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    }
    const heapBefore = process.memoryUsage().rss;
    const res = await request(`${base}/v1/audio/voices`, { method: 'POST', body: Readable.from(body()), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    const answer = (await res.body.json()) as { error: { code: string; message: string } };
    expect(res.statusCode).toBe(413);
    expect(answer.error.code).toBe('file_too_large');
    expect(answer.error.message).toMatch(/50 MB/);
    expect(sent).toBeGreaterThanOrEqual(50 * 1024 * 1024);
    // The gateway runs in this process: 60 MB held would show (generous bound for a loaded machine).
    expect(process.memoryUsage().rss - heapBefore).toBeLessThan(45 * 1024 * 1024);
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
    expect(gateway.voices.list().map((v) => v.id)).toEqual([voiceId]);
  });

  it('export, wipe voices.dir, import on a fresh gateway: the voice is back and speaks', async () => {
    const archive = join(work, 'voices-backup.tar.gz');
    const { stdout } = await voicesCli('export', archive, '--dir', dir);
    expect(stdout).toContain('exported 1 voice(s)');
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
    // Fresh GPU servers too: nothing remembers the voice but the archive.
    for (const inst of fleet.instances) {
      await inst.stop();
      await inst.start();
    }
    const imported = await voicesCli('import', archive, '--dir', dir);
    expect(imported.stdout).toContain(`imported 1 voice(s) into ${dir}: ${voiceId}`);
    expect(existsSync(join(dir, voiceId, 'reference.wav'))).toBe(true);
    await startGateway();
    expect(gateway.voices.list().map((v) => v.name)).toEqual(['Support Anna']);
    const client = await call('after-restore', voiceId);
    await client.waitType('turn_end', 15_000);
    expect(client.ofType('error')).toEqual([]);
    expectClonePitch(pitchOf(client.audioBytes(), RATE));
    await client.close();
    // A second import of the same archive changes nothing and says why.
    const again = await voicesCli('import', archive, '--dir', dir).catch((err: { stdout: string; code: number }) => err);
    expect((again as { stdout: string }).stdout).toContain('already in the library');
  }, 90_000);

  it('the fallback speaks the clone when the whole pool is down', async () => {
    for (const inst of fleet.instances) await inst.stop();
    try {
      const client = await call('fallback-call', voiceId);
      await client.waitType('turn_end', 20_000);
      expect(client.ofType('segment').every((s) => s.provider === 'cartesia') || client.ofType('failover').length > 0).toBe(true);
      const cloneId = gateway.voices.get(voiceId)!.cartesia!.voice_id!;
      expect(cartesia.requests().some((r) => JSON.stringify(r.voice).includes(cloneId))).toBe(true);
      expectClonePitch(pitchOf(client.audioBytes(), RATE));
      await client.close();
    } finally {
      for (const inst of fleet.instances) await inst.start();
    }
  });

  it('DELETE removes the voice: gone from the list, the disk and the pool', async () => {
    const res = await fetch(`${base}/v1/audio/voices/${voiceId}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: voiceId, object: 'voice', deleted: true });
    expect(existsSync(join(dir, voiceId))).toBe(false);
    // …and from the instances that held it (in the background).
    const deadline = Date.now() + 5000;
    while (fleet.instances.some((i) => i.clonedVoices.has(voiceId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fleet.instances.filter((i) => i.clonedVoices.has(voiceId)).map((i) => i.id)).toEqual([]);
    const list = (await (await fetch(`${base}/v1/audio/voices`)).json()) as { data: { id: string }[] };
    expect(list.data.map((v) => v.id)).not.toContain(voiceId);
    const refused = await StreamClient.connect(`${wsUrl}?session_id=deleted`);
    refused.send({ type: 'start', voice: voiceId, format: { encoding: 'pcm_s16le', sample_rate: RATE } });
    const error = await refused.waitType('error');
    expect(error).toMatchObject({ code: 'unknown_voice' });
    await refused.close();
    expect((await fetch(`${base}/v1/audio/voices/${voiceId}`, { method: 'DELETE' })).status).toBe(404);
  });
});
