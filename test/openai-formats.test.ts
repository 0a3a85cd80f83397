/**
 * The OpenAI speech API as a new user meets it (issue 21): the default config (embedded espeak,
 * no GPU), OpenAI's voice names, every response format decoded by a real decoder from npm, the
 * official `openai` SDK unchanged, and the deployment guide's curl line run with real curl.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { decodeAudio, rmsOf, type Decoded } from '../src/audio/encoders/decoders.testing.ts';
import type { EncoderFormat } from '../src/audio/encoders/encoder.ts';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';

const run = promisify(execFile);

/** Seconds of decoded audio louder than -40 dBFS, in 20 ms windows: "speech", not padding. */
function voicedSeconds(decoded: Decoded): number {
  const win = Math.round(decoded.sampleRate / 50);
  let voiced = 0;
  for (let i = 0; i + win <= decoded.samples.length; i += win) if (rmsOf(decoded.samples, i, i + win) > 0.01) voiced++;
  return voiced / 50;
}

let gateway: Gateway;
let base: string;
let client: OpenAI;

beforeAll(async () => {
  const raw = parseYaml(await readFile(DEFAULT_CONFIG_PATH, 'utf8')) as Record<string, Record<string, unknown>>;
  gateway = await createGateway({ config: parseConfig({ ...raw, server: { ...raw.server, host: '127.0.0.1', port: 0 } }) });
  base = `http://127.0.0.1:${await gateway.listen()}`;
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 });
});
afterAll(() => gateway.close());

const INPUT = 'Hello from voicegate. This answer is long enough to hear.';

describe('OpenAI speech API with the default config and the official SDK', () => {
  it('no response_format and voice "alloy": mp3 that mpg123 decodes to over a second of speech', async () => {
    const response = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: INPUT });
    expect(response.headers.get('content-type')).toBe('audio/mpeg');
    expect(response.headers.get('x-voicegate-voice')).toBe('en-us');
    const decoded = await decodeAudio('mp3', new Uint8Array(await response.arrayBuffer()), 24000);
    expect(decoded.errors).toEqual([]);
    expect(decoded.sampleRate).toBe(24000);
    expect(voicedSeconds(decoded)).toBeGreaterThan(1);
  });

  it.each([
    ['opus', 'audio/ogg; codecs=opus'],
    ['flac', 'audio/flac'],
    ['wav', 'audio/wav'],
    ['pcm', 'audio/pcm'],
  ] as const)('response_format %s decodes with a real decoder to over a second of speech', async (format, contentType) => {
    const response = await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'ash', input: INPUT, response_format: format });
    expect(response.headers.get('content-type')).toBe(contentType);
    const decoded = await decodeAudio(format as EncoderFormat, new Uint8Array(await response.arrayBuffer()), 24000);
    expect(decoded.errors).toEqual([]);
    expect(voicedSeconds(decoded)).toBeGreaterThan(1);
  });

  it('every OpenAI voice name is accepted, and /v1/audio/voices says what each maps to', async () => {
    const voices = await (await fetch(`${base}/v1/audio/voices`)).json() as { data: { id: string; alias_of?: string }[] };
    for (const name of ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'onyx', 'nova', 'sage', 'shimmer', 'verse', 'marin', 'cedar']) {
      expect(voices.data).toContainEqual(expect.objectContaining({ id: name, alias_of: 'en-us' }));
    }
    const response = await client.audio.speech.create({ model: 'tts-1', voice: 'cedar', input: 'Short.', response_format: 'pcm' });
    expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(4800);
  });

  it('aac is a 400 in OpenAI\'s error shape that names the formats served', async () => {
    const err = (await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'x', response_format: 'aac' }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.BadRequestError>;
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.code).toBe('unsupported_response_format');
    expect(err.message).toContain('mp3, opus, flac, wav, pcm');
  });
});

describe("the deployment guide's curl line", () => {
  it('a refused request saved with --output is a 4xx, labelled JSON, holding OpenAI\'s error: nothing that passes for audio', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voicegate-curl-'));
    try {
      const out = join(dir, 'test.mp3');
      const body = JSON.stringify({ model: 'tts-1', input: '你好世界', voice: 'nobody-here' });
      const { stdout } = await run('curl', ['-sS', '-X', 'POST', `${base}/v1/audio/speech`, '-H', 'Content-Type: application/json', '-d', body, '--output', out, '-w', '%{http_code} %{content_type}']);
      expect(stdout).toBe('400 application/json');
      const saved = JSON.parse(await readFile(out, 'utf8')) as { error: { code: string; param: string; message: string } };
      expect(saved.error).toMatchObject({ code: 'unknown_voice', param: 'voice' });
      expect(saved.error.message).toContain('nobody-here');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes a playable mp3 of 你好世界 with voice alloy (real curl)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voicegate-curl-'));
    try {
      const out = join(dir, 'test.mp3');
      const body = JSON.stringify({ model: 'tts-1', input: '你好世界', voice: 'alloy' });
      const { stdout } = await run('curl', ['-sS', '-X', 'POST', `${base}/v1/audio/speech`, '-H', 'Content-Type: application/json', '-d', body, '--output', out, '-w', '%{http_code} %{content_type}']);
      expect(stdout).toBe('200 audio/mpeg');
      const decoded = await decodeAudio('mp3', new Uint8Array(await readFile(out)), 24000);
      expect(decoded.errors).toEqual([]);
      // Spoken in Chinese (espeak's cmn voice: ~1.3 s), not spelled as "Chinese letter" four times (~3 s).
      expect(voicedSeconds(decoded)).toBeGreaterThan(0.5);
      expect(voicedSeconds(decoded)).toBeLessThan(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
