import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../audio/wav.ts';
import { VoiceError } from './errors.ts';
import { parseVoiceUpload } from './multipart.ts';

const BOUNDARY = 'xYz-boundary';
const HEADERS = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
const WAV = encodeWav({ samples: new Int16Array(48000).fill(1200), sampleRate: 24000 });

type Part = { name: string; value: string } | { name: string; filename: string; data: Buffer };

/** A multipart body, sent in small chunks as a network would. */
function body(parts: Part[]): Readable {
  const pieces: Buffer[] = [];
  for (const part of parts) {
    if ('value' in part) pieces.push(Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`));
    else pieces.push(Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\ncontent-type: audio/wav\r\n\r\n`), part.data, Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  const all = Buffer.concat(pieces);
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += 7000) chunks.push(all.subarray(i, i + 7000));
  return Readable.from(chunks);
}

describe('parseVoiceUpload', () => {
  let dir: string;
  let n = 0;
  const target = () => join(dir, `upload-${++n}`);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voicegate-multipart-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const refusal = (promise: Promise<unknown>) => promise.then(() => 'accepted', (err: unknown) => (err instanceof VoiceError ? `${err.status} ${err.code} ${err.param}` : String(err)));

  it('streams the clip to its file and collects the fields, in either order', async () => {
    const path = target();
    const parsed = await parseVoiceUpload(body([{ name: 'name', value: ' Anna ' }, { name: 'audio', filename: 'a.wav', data: WAV }, { name: 'ref_text', value: 'Hello.' }, { name: 'other', value: 'ignored' }]), HEADERS, { maxFileBytes: 1e6, tempPath: path });
    expect(parsed.fields).toEqual({ name: 'Anna', ref_text: 'Hello.' });
    expect(parsed.file).toBe(path);
    expect(parsed.fileBytes).toBe(WAV.length);
    expect(readFileSync(path).equals(WAV)).toBe(true);
  });

  it('takes vLLM-Omni\'s field name for the file too; no file → file null', async () => {
    const parsed = await parseVoiceUpload(body([{ name: 'audio_sample', filename: 'a.wav', data: WAV }]), HEADERS, { maxFileBytes: 1e6, tempPath: target() });
    expect(parsed.fileBytes).toBe(WAV.length);
    const none = await parseVoiceUpload(body([{ name: 'name', value: 'x' }]), HEADERS, { maxFileBytes: 1e6, tempPath: target() });
    expect(none.file).toBeNull();
  });

  it('refuses a text file on its first bytes and leaves no file', async () => {
    const path = target();
    expect(await refusal(parseVoiceUpload(body([{ name: 'audio', filename: 'notes.wav', data: Buffer.from('plain text, not audio\n'.repeat(500)) }]), HEADERS, { maxFileBytes: 1e6, tempPath: path }))).toBe('415 unsupported_audio audio');
    expect(existsSync(path)).toBe(false);
    const tiny = target();
    expect(await refusal(parseVoiceUpload(body([{ name: 'audio', filename: 'x.wav', data: Buffer.from('hi') }]), HEADERS, { maxFileBytes: 1e6, tempPath: tiny }))).toBe('415 unsupported_audio audio');
    expect(existsSync(tiny)).toBe(false);
  });

  it('cuts an oversized file off at the limit and leaves no file', async () => {
    const path = target();
    const big = Buffer.concat([WAV, Buffer.alloc(300_000, 5)]);
    expect(await refusal(parseVoiceUpload(body([{ name: 'audio', filename: 'big.wav', data: big }]), HEADERS, { maxFileBytes: 200_000, tempPath: path }))).toBe('413 file_too_large audio');
    expect(existsSync(path)).toBe(false);
    // A declared length far over the limit is refused before reading.
    const declared = await refusal(parseVoiceUpload(body([]), { ...HEADERS, 'content-length': String(5_000_000) }, { maxFileBytes: 200_000, tempPath: target() }));
    expect(declared).toBe('413 file_too_large audio');
  });

  it('a bad field after the file has started stops the file and removes it (no hang)', async () => {
    const path = target();
    const parts: Part[] = [{ name: 'audio', filename: 'a.wav', data: Buffer.concat([WAV, WAV, WAV]) }, { name: 'name', value: 'n'.repeat(500) }];
    expect(await refusal(parseVoiceUpload(body(parts), HEADERS, { maxFileBytes: 1e6, tempPath: path }))).toBe('400 invalid_field name');
    expect(existsSync(path)).toBe(false);
  });

  it('lets the caller refuse on the fields sent before the file, before reading it', async () => {
    const path = target();
    const seen: string[] = [];
    const beforeFile = (fields: { name?: string }) => {
      seen.push(fields.name ?? '');
      if (fields.name === 'Taken') throw new VoiceError(409, 'duplicate_name', 'taken', 'name');
    };
    expect(await refusal(parseVoiceUpload(body([{ name: 'name', value: 'Taken' }, { name: 'audio', filename: 'a.wav', data: WAV }]), HEADERS, { maxFileBytes: 1e6, tempPath: path, beforeFile }))).toBe('409 duplicate_name name');
    expect(existsSync(path)).toBe(false);
    const ok = await parseVoiceUpload(body([{ name: 'audio', filename: 'a.wav', data: WAV }, { name: 'name', value: 'Taken' }]), HEADERS, { maxFileBytes: 1e6, tempPath: target(), beforeFile });
    expect(ok.fields.name).toBe('Taken');
    expect(seen).toEqual(['Taken', '']);
  });

  it('refuses what is not multipart, and a broken body', async () => {
    expect(await refusal(parseVoiceUpload(Readable.from([Buffer.from('{"name":"x"}')]), { 'content-type': 'application/json' }, { maxFileBytes: 1e6, tempPath: target() }))).toBe('400 not_multipart null');
    expect(await refusal(parseVoiceUpload(Readable.from([Buffer.from('x')]), {}, { maxFileBytes: 1e6, tempPath: target() }))).toBe('400 not_multipart null');
    const path = target();
    const broken = new Readable({ read() {} });
    const pending = refusal(parseVoiceUpload(broken, HEADERS, { maxFileBytes: 1e6, tempPath: path }));
    broken.push(Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n`));
    broken.push(WAV);
    setTimeout(() => broken.destroy(new Error('connection reset')), 20);
    expect(await pending).toMatch(/^400 not_multipart/);
    expect(existsSync(path)).toBe(false);
  });
});
