/**
 * Voices are checked at start (issue 21): the embedded espeak engine and an OpenAI-compatible
 * server (the simulator's /v1/audio/voices) are asked for theirs; a configured voice they lack
 * stops the gateway with one line naming pool, voice and the voices there are. The real
 * process exits with status 2.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, poolOf } from '../config.ts';
import { createGateway } from '../gateway.ts';
import { startSimFleet, type SimFleet } from '../sim/fleet.ts';
import { EspeakBackend, voiceForScript } from './espeak.ts';
import { OpenAIBackend } from './openai.ts';
import { logCapture } from '../../test/helpers/log.ts';
import { BackendError, type Backend } from './backend.ts';
import { UncheckedVoices, VoiceCheckError } from './voice-check.ts';

const run = promisify(execFile);

const espeakPool = (voices: string[]) => ({ name: 'embedded', backend: 'espeak', model: 'espeak', voices, instances: [{ id: 'espeak-1', max_concurrency: 1 }] });

describe('espeak voices', () => {
  it('lists espeak-ng\'s voice table and matches names as espeak does (case, +variant, language)', async () => {
    const backend = new EspeakBackend({ pool: 'p', instance: 'espeak-1' });
    try {
      const list = await backend.listVoices(AbortSignal.timeout(10_000));
      expect(list.voices).toEqual(expect.arrayContaining(['en-us', 'cmn', 'de']));
      for (const voice of ['en-us', 'EN-GB', 'en-us+f3', 'fr', 'en', 'cmn']) expect(list.has(voice), voice).toBe(true);
      for (const voice of ['alloy', 'af_heart', 'xx-yy']) expect(list.has(voice), voice).toBe(false);
    } finally {
      await backend.close();
    }
  });

  it('reads a segment in another script with a voice of that script', () => {
    expect(voiceForScript('你好世界', 'en-us')).toBe('cmn');
    expect(voiceForScript('Привет, мир', 'en-us')).toBe('ru');
    expect(voiceForScript('你好', 'yue')).toBe('yue');
    expect(voiceForScript('Hello 你', 'en-us')).toBe('en-us');
    expect(voiceForScript('123 !?', 'de')).toBe('de');
  });
});

describe('start-up voice check', () => {
  let fleet: SimFleet;
  beforeAll(async () => {
    fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.05, chunk_ms: 100 } });
  });
  afterAll(() => fleet.close());

  it('an espeak pool listing "alloy" fails to start, naming pool, voice and the voices espeak has', async () => {
    const config = parseConfig({ server: { host: '127.0.0.1', port: 0 }, pools: [espeakPool(['en-us', 'alloy'])] });
    const err = await createGateway({ config }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VoiceCheckError);
    const message = (err as Error).message;
    expect(message).toMatch(/^pool embedded: voice "alloy" not spoken by its espeak backend; it has: .*en-us/);
    expect(message).not.toContain('\n');
  });

  it('an OpenAI-compatible pool is checked against the server\'s /v1/audio/voices; a good config starts', async () => {
    const pool = (voices: string[]) => ({ name: 'kokoro', backend: 'openai', model: 'kokoro', voices, instances: [{ id: 'sim-1', url: fleet.instances[0]!.url }], health: { interval_ms: 60_000 } });
    const bad = await createGateway({ config: parseConfig({ server: { host: '127.0.0.1', port: 0 }, pools: [pool(['af_heart', 'zz_nobody'])] }) }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(VoiceCheckError);
    expect((bad as Error).message).toContain('"zz_nobody"');
    expect((bad as Error).message).toContain('af_heart');
    const good = await createGateway({ config: parseConfig({ server: { host: '127.0.0.1', port: 0 }, pools: [pool(['af_heart', 'af_bella+af_sky'])] }) });
    await good.close();
  });

  it("a Gradio pool is checked against the voice choices its app's /config names (Gradio 5 and 4)", async () => {
    const gradio = await startSimFleet({ instances: [{ protocol: 'gradio' }, { protocol: 'gradio4' }], controlPort: null });
    try {
      for (const [i, version] of [[0, 5], [1, 4]] as const) {
        const pool = (voices: string[]) => ({ name: 'space', backend: 'gradio', model: 'kokoro', voices, instances: [{ id: `g${version}`, url: gradio.instances[i]!.url }], health: { interval_ms: 60_000 } });
        const bad = await createGateway({ config: parseConfig({ server: { host: '127.0.0.1', port: 0 }, pools: [pool(['af_heart', 'af_bella+af_sky'])] }) }).catch((e: unknown) => e);
        expect(bad).toBeInstanceOf(VoiceCheckError);
        // The values the app accepts, not the labels its dropdown shows.
        expect((bad as Error).message).toMatch(/^pool space: voice "af_bella\+af_sky" not spoken by its gradio backend; it has: af_heart, af_bella, /);
        expect((bad as Error).message).not.toContain('Heart');
        const good = await createGateway({ config: parseConfig({ server: { host: '127.0.0.1', port: 0 }, pools: [pool(['af_heart', 'bm_george'])] }) });
        await good.close();
      }
    } finally {
      await gradio.close();
    }
  });

  it('a server that cannot be reached does not stop the start (checked at the first request instead)', async () => {
    const backend = new OpenAIBackend({ pool: poolOf(parseConfig({ pools: [{ name: 'x', backend: 'openai', voices: ['a'], instances: [{ url: 'http://127.0.0.1:9' }] }] }).pools[0]!, 'openai'), instance: { id: 'dead', url: 'http://127.0.0.1:9' } });
    await expect(backend.listVoices(AbortSignal.timeout(2000))).rejects.toMatchObject({ name: 'BackendError' });
    await backend.close();
    const config = parseConfig({ server: { host: '127.0.0.1', port: 0 }, pools: [{ name: 'dead', backend: 'openai', voices: ['a'], instances: [{ url: 'http://127.0.0.1:9' }], health: { interval_ms: 60_000 } }] });
    const gateway = await createGateway({ config });
    await gateway.close();
  });

  it('the voicegate process exits with status 2 and one line on stderr', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voicegate-voices-'));
    try {
      const path = join(dir, 'config.yaml');
      await writeFile(path, 'pools:\n  - name: embedded\n    backend: espeak\n    voices: [en-us, alloy]\n    instances: [{ id: espeak-1 }]\n');
      const result = await run(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, VOICEGATE_CONFIG: path, PORT: '0' }, timeout: 30_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('pool embedded: voice "alloy" not spoken by its espeak backend');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('servers that cannot be asked: a warning on the first failure of a voice', () => {
  /** A backend that fails every request with `error`. */
  const failing = (error: BackendError): Backend => ({
    protocol: 'fake',
    // eslint-disable-next-line require-yield
    async *synthesize() {
      throw error;
    },
    check: async () => {},
    close: async () => {},
  });
  const drain = async (backend: Backend, voice: string): Promise<void> => {
    for await (const _ of backend.synthesize({ text: 'x', voice }, new AbortController().signal));
  };
  const warnings = (capture: ReturnType<typeof logCapture>) => capture.records().filter((r) => r.level === 40);

  it('once per instance and voice, for refusals only, and only while the pool is unchecked', async () => {
    const capture = logCapture();
    const watcher = new UncheckedVoices(capture.logger);
    const refused = new BackendError('http_4xx', 'Voice zz not found', 400);
    const a = watcher.watch('p', 'a', failing(refused));
    const b = watcher.watch('p', 'b', failing(refused));
    await expect(drain(a, 'zz')).rejects.toBe(refused);
    expect(warnings(capture)).toHaveLength(0); // the pool was checked (not marked): nothing to say
    watcher.markUnchecked('p');
    for (let i = 0; i < 3; i++) await expect(drain(a, 'zz')).rejects.toBe(refused);
    await expect(drain(a, 'yy')).rejects.toBe(refused);
    await expect(drain(b, 'zz')).rejects.toBe(refused);
    expect(warnings(capture).map((r) => [r.instance, r.voice])).toEqual([['a', 'zz'], ['a', 'yy'], ['b', 'zz']]);
    expect(warnings(capture)[0]!.msg).toBe('pool p, instance a: a request for voice "zz" failed (Voice zz not found); its voices could not be checked at start: make sure it has voice "zz"');
    // A Gradio app error (no status) and a 500 are refusals; a full server, a timeout, a dropped connection are not.
    for (const [voice, error] of [
      ['g', new BackendError('http_5xx', 'gradio app error')],
      ['h', new BackendError('http_5xx', 'boom', 500)],
      ['q', new BackendError('http_5xx', 'queue full', 503)],
      ['r', new BackendError('http_429', 'busy', 429)],
      ['t', new BackendError('timeout', 'no first audio')],
      ['c', new BackendError('connect', 'ECONNREFUSED')],
    ] as const) {
      await expect(drain(watcher.watch('p', 'c', failing(error)), voice)).rejects.toBe(error);
    }
    expect(warnings(capture).slice(3).map((r) => r.voice)).toEqual(['g', 'h']);
  });

  it('through the gateway: an OpenAI-compatible server without a voice list, asked for a voice it lacks', async () => {
    const capture = logCapture('info');
    const fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.05, chunk_ms: 100 } });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0 },
      pools: [{ name: 'kokoro', backend: 'openai', model: 'kokoro', voices: ['af_heart', 'zz_nobody'], instances: [{ id: 'sim-1', url: fleet.instances[0]!.url }], health: { interval_ms: 60_000 }, options: { voices_path: '/no/voice/list' } }],
    });
    const gateway = await createGateway({ config, logger: capture.logger });
    try {
      const base = `http://127.0.0.1:${await gateway.listen()}`;
      const speak = (voice: string) => fetch(`${base}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'kokoro', input: 'Hello there.', voice, response_format: 'pcm' }) });
      for (let i = 0; i < 3; i++) expect((await speak('zz_nobody')).status).toBe(503);
      expect((await speak('af_heart')).status).toBe(200);
      const warned = capture.records().filter((r) => r.level === 40 && r.voice !== undefined);
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({ pool: 'kokoro', instance: 'sim-1', voice: 'zz_nobody', status: 400 });
      expect(String(warned[0]!.msg)).toContain("Voice 'zz_nobody' not found");
    } finally {
      await gateway.close();
      await fleet.close();
    }
  });
});
