/**
 * The library's registration logic in-process: a fake cloning backend counts what the
 * library asks of it; the real openai adapter against the simulator checks both modes.
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BackendAudio, Pcm } from '../audio/format.ts';
import { lcgNoise } from '../audio/analysis.ts';
import { encodeWav } from '../audio/wav.ts';
import { BackendError, type Backend, type SynthesisRequest, type VoiceCloning, type VoiceReference } from '../backends/backend.ts';
import { parseConfig, type Config } from '../config.ts';
import type { Fleet } from '../routing/fleet.ts';
import { syntheticSource } from '../sim/audio.ts';
import { startFakeCartesia } from '../sim/cartesia.ts';
import { startSimHarness, type SimHarness } from '../../test/helpers/sim-harness.ts';
import { estimatePitchHz } from '../sim/signature.ts';
import { VoiceLibrary } from './library.ts';
import { VoiceStore, newVoiceId, type VoiceMeta } from './store.ts';

async function referenceWav(pitchHz: number): Promise<Uint8Array> {
  return new Uint8Array(encodeWav(await syntheticSource({ pitchHz, msPerChar: 100 }).synthesize('x'.repeat(60), 'r', 1)));
}

function poolConfig(mode: 'upload' | 'reference', url = 'http://127.0.0.1:9'): Config {
  return parseConfig({
    pools: [{ name: 'qwen', backend: 'openai', voices: ['af_heart'], instances: [{ id: 'gpu-1', url }], options: { voice_cloning: mode } }],
    voices: { dir: '/nonexistent' },
  });
}

const TONE: Pcm = { samples: new Int16Array(2400).fill(1000), sampleRate: 24000 };

/** A backend whose server "forgets" voices on demand and counts list/register calls. */
class FakeCloningBackend implements Backend {
  readonly protocol = 'fake';
  held = new Set<string>();
  lists = 0;
  registers = 0;
  registerDelayMs = 20;
  failRegister: BackendError | null = null;
  requests: SynthesisRequest[] = [];
  readonly cloning: VoiceCloning;
  constructor(mode: 'upload' | 'reference' = 'upload') {
    this.cloning = {
      mode,
      listVoices: async () => {
        this.lists++;
        return [...this.held];
      },
      registerVoice: async (voice: VoiceReference) => {
        this.registers++;
        await new Promise((r) => setTimeout(r, this.registerDelayMs));
        if (this.failRegister) throw this.failRegister;
        this.held.add(voice.id);
      },
      removeVoice: async (id: string) => {
        this.held.delete(id);
      },
    };
  }
  async *synthesize(req: SynthesisRequest): AsyncIterable<BackendAudio> {
    this.requests.push(req);
    if (this.cloning.mode === 'upload' && req.voice.startsWith('voice_') && !this.held.has(req.voice)) throw new BackendError('http_4xx', `voice ${req.voice} not found`, 400);
    yield TONE;
  }
  async check(): Promise<void> {}
  async close(): Promise<void> {}
}

async function drain(backend: Backend, voice: string, signal = new AbortController().signal): Promise<Pcm[]> {
  const out: Pcm[] = [];
  for await (const audio of backend.synthesize({ text: 'Hello there.', voice }, signal)) out.push(audio as Pcm);
  return out;
}

describe('VoiceLibrary registration', () => {
  let dir: string;
  let store: VoiceStore;
  let voice: VoiceMeta;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voicegate-library-'));
    store = await VoiceStore.open(dir);
    voice = { id: newVoiceId(), name: 'Anna', pool: 'qwen', consent: 'c', created_at: new Date().toISOString(), duration_seconds: 6, sample_rate: 24000, source_format: 'wav', sha256: 'b'.repeat(64) };
    await store.create(voice, await referenceWav(300));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('admits its voices into their pool, so sessions accept the id', () => {
    const config = poolConfig('upload');
    new VoiceLibrary({ config, store });
    expect(config.pools[0]!.voices).toEqual(['af_heart', voice.id]);
  });

  it('registers once on an instance however many segments ask at once, then not again', async () => {
    const fake = new FakeCloningBackend();
    const config = poolConfig('upload');
    const library = new VoiceLibrary({ config, store });
    const backend = library.wrapBackend(config.pools[0]!, 'gpu-1', fake);
    const results = await Promise.all(Array.from({ length: 20 }, () => drain(backend, voice.id)));
    expect(results.every((r) => r.length === 1)).toBe(true);
    expect(fake.registers).toBe(1);
    expect(fake.lists).toBe(1);
    await drain(backend, voice.id);
    expect(fake.registers).toBe(1);
    // Voices that are not in the library go straight through.
    await drain(backend, 'af_heart');
    expect(fake.lists).toBe(1);
  });

  it('an instance that forgot the voice (restart between health checks) gets it again, once', async () => {
    const fake = new FakeCloningBackend();
    const config = poolConfig('upload');
    const library = new VoiceLibrary({ config, store });
    const backend = library.wrapBackend(config.pools[0]!, 'gpu-1', fake);
    await drain(backend, voice.id);
    fake.held.clear();
    expect(await drain(backend, voice.id)).toHaveLength(1);
    expect(fake.registers).toBe(2);
    // Refused although the server lists the voice: checked once more, then the error reaches
    // the caller (it moves on), no loop.
    const lists = fake.lists;
    fake.synthesize = () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new BackendError('http_4xx', 'still refused', 400)) }),
    });
    await expect(drain(backend, voice.id)).rejects.toMatchObject({ code: 'http_4xx' });
    expect(fake.lists).toBe(lists + 1);
    expect(fake.registers).toBe(2);
  });

  it('a capacity, drain or undrain event keeps what the instance holds confirmed; a down event does not', async () => {
    const fake = new FakeCloningBackend();
    const config = poolConfig('upload');
    const library = new VoiceLibrary({ config, store });
    const fleet = new EventEmitter() as unknown as Fleet;
    library.attach(fleet);
    const backend = library.wrapBackend(config.pools[0]!, 'gpu-1', fake);
    await drain(backend, voice.id);
    expect(fake.lists).toBe(1);
    for (const type of ['capacity', 'draining', 'undrained'] as const) fleet.emit('instance', { type, pool: 'qwen', instance: 'gpu-1', url: 'http://127.0.0.1:9', healthy: true });
    await drain(backend, voice.id);
    expect(fake.lists).toBe(1);
    fleet.emit('instance', { type: 'down', pool: 'qwen', instance: 'gpu-1', url: 'http://127.0.0.1:9', healthy: false });
    await drain(backend, voice.id);
    expect(fake.lists).toBe(2);
    library.detach();
  });

  it('a failed registration is a retryable error (the segment moves on), retried on the next use', async () => {
    const fake = new FakeCloningBackend();
    fake.failRegister = new BackendError('http_4xx', 'Base model not loaded', 400);
    const config = poolConfig('upload');
    const library = new VoiceLibrary({ config, store });
    const backend = library.wrapBackend(config.pools[0]!, 'gpu-1', fake);
    const err = await drain(backend, voice.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).retryable).toBe(true);
    expect((err as BackendError).message).toMatch(/could not be registered.*Base model not loaded/);
    fake.failRegister = null;
    expect(await drain(backend, voice.id)).toHaveLength(1);
    expect(fake.registers).toBe(2);
  });

  it('a cancelled caller stops waiting; the registration finishes for the next one', async () => {
    const fake = new FakeCloningBackend();
    fake.registerDelayMs = 200;
    const config = poolConfig('upload');
    const library = new VoiceLibrary({ config, store });
    const backend = library.wrapBackend(config.pools[0]!, 'gpu-1', fake);
    const controller = new AbortController();
    const first = drain(backend, voice.id, controller.signal);
    setTimeout(() => controller.abort(), 20);
    await expect(first).rejects.toMatchObject({ code: 'aborted' });
    expect(await drain(backend, voice.id)).toHaveLength(1);
    expect(fake.registers).toBe(1);
  });

  it('reference mode sends the clip with every request and registers nothing', async () => {
    const fake = new FakeCloningBackend('reference');
    const config = poolConfig('reference');
    const library = new VoiceLibrary({ config, store });
    const backend = library.wrapBackend(config.pools[0]!, 'gpu-1', fake);
    await drain(backend, voice.id);
    await drain(backend, 'af_heart');
    expect(fake.registers).toBe(0);
    expect(fake.requests[0]!.reference).toMatchObject({ id: voice.id, name: 'Anna', consent: 'c' });
    expect(fake.requests[0]!.reference!.wav.length).toBeGreaterThan(6 * 48000);
    expect(fake.requests[1]!.reference).toBeUndefined();
  });
});

/** Generous: the simulator analyses each reference in this process, on a loaded machine. */
const LOADED = { first_audio_ms: 5000, stall_ms: 5000 };

describe('VoiceLibrary and the Cartesia fallback', () => {
  it('at start, clones the voices that have no clone in this account, and maps the voice to it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voicegate-library-cartesia-'));
    const cartesia = await startFakeCartesia({ apiKey: 'sk-new' });
    try {
      const store = await VoiceStore.open(dir);
      const base = { pool: 'qwen', consent: 'c', created_at: new Date().toISOString(), duration_seconds: 6, sample_rate: 24000, source_format: 'wav', sha256: 'c'.repeat(64) };
      // Restored from another gateway: its clone lives in another account.
      const restored: VoiceMeta = { ...base, id: newVoiceId(), name: 'Restored', cartesia: { voice_id: 'old-account-voice', account: 'feedfeedfeedfeed' } };
      // Uploaded before a fallback was configured.
      const never: VoiceMeta = { ...base, id: newVoiceId(), name: 'Never cloned' };
      await store.create(restored, await referenceWav(300));
      await store.create(never, await referenceWav(300));
      const config = parseConfig({
        pools: [{ name: 'qwen', backend: 'openai', voices: ['af_heart'], instances: [{ url: 'http://127.0.0.1:9' }], options: { voice_cloning: 'upload' } }],
        fallback: { backend: 'cartesia', url: cartesia.url, api_key: 'sk-new', voice_map: { default: 'cartesia-default' } },
        voices: { dir },
      });
      const library = new VoiceLibrary({ config, store });
      // Not mapped yet: the old account's clone is not used here.
      expect(config.fallback!.voice_map[restored.id]).toBeUndefined();
      expect(library.fallbackChangesVoice(restored.id)).toBe(true);
      expect(library.fallbackChangesVoice('af_heart')).toBe(false);
      await library.syncAll();
      expect(library.fallbackChangesVoice(restored.id)).toBe(false);
      expect(cartesia.clones().size).toBe(2);
      for (const id of [restored.id, never.id]) {
        const clone = library.get(id)!.cartesia!.voice_id!;
        expect(cartesia.clones().has(clone)).toBe(true);
        expect(config.fallback!.voice_map[id]).toBe(clone);
      }
      // Recorded on disk: a restart does not clone again.
      const again = new VoiceLibrary({ config, store: await VoiceStore.open(dir) });
      await again.syncAll();
      expect(cartesia.clones().size).toBe(2);
    } finally {
      await cartesia.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('openai adapter cloning against the simulator', () => {
  const harnesses: SimHarness[] = [];
  afterAll(async () => {
    for (const h of harnesses) await h.close();
  });

  async function speak(h: SimHarness, req: Partial<SynthesisRequest> & { voice: string }): Promise<number> {
    const parts: Int16Array[] = [];
    for await (const a of h.backend.synthesize({ text: 'Hello there, how are you today?', ...req }, new AbortController().signal)) parts.push((a as Pcm).samples);
    const all = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return estimatePitchHz(all, 24000);
  }

  const reference = async (id: string): Promise<VoiceReference> => ({ id, name: 'Anna', wav: await referenceWav(300), consent: 'c1', refText: 'Hello.' });

  it('upload: registers through the voice API (idempotent), lists it, speaks it', async () => {
    const h = await startSimHarness({ protocol: 'openai', options: { voice_cloning: 'upload' }, timeouts: LOADED });
    harnesses.push(h);
    const cloning = h.backend.cloning!;
    expect(cloning.mode).toBe('upload');
    // One deadline per call, generous: the machine is loaded.
    const signal = () => AbortSignal.timeout(30_000);
    expect(await cloning.listVoices(signal())).not.toContain('voice_test0000000001');
    await cloning.registerVoice(await reference('voice_test0000000001'), signal());
    // A second upload of the same name is refused by the server; the voice is there, so it is success.
    await cloning.registerVoice(await reference('voice_test0000000001'), signal());
    expect(await cloning.listVoices(signal())).toContain('voice_test0000000001');
    expect(h.instance.clonedVoices.get('voice_test0000000001')?.refText).toBe('Hello.');
    expect(await speak(h, { voice: 'voice_test0000000001' })).toBeCloseTo(300, -1);
    expect(await speak(h, { voice: 'af_heart' })).toBeCloseTo(120, -1);
    // A reference the server cannot use is refused with its message.
    const noise = lcgNoise(24000 * 4, 7, 10000);
    await expect(cloning.registerVoice({ ...(await reference('voice_noise000000001')), wav: new Uint8Array(encodeWav({ samples: noise, sampleRate: 24000 })) }, signal())).rejects.toMatchObject({ code: 'http_4xx', status: 400 });
  });

  it('reference: ref_audio and ref_text travel in the speech request; the server speaks the clip\'s voice', async () => {
    const h = await startSimHarness({ protocol: 'openai', options: { voice_cloning: 'reference' }, timeouts: LOADED });
    harnesses.push(h);
    const ref = await reference('voice_test0000000002');
    const body = JSON.parse((h.backend as unknown as { requestBody(r: SynthesisRequest): string }).requestBody({ text: 'Hi.', voice: ref.id, reference: ref })) as Record<string, unknown>;
    expect(body.voice).toBeUndefined();
    expect(body.ref_text).toBe('Hello.');
    expect(String(body.ref_audio)).toMatch(/^data:audio\/wav;base64,UklGR/);
    expect(await speak(h, { voice: ref.id, reference: ref })).toBeCloseTo(300, -1);
    expect(h.instance.clonedVoices.size).toBe(0);
  });

  it('a pool without voice_cloning has no capability', async () => {
    const h = await startSimHarness({ protocol: 'openai' });
    harnesses.push(h);
    expect(h.backend.cloning).toBeUndefined();
  });
});
