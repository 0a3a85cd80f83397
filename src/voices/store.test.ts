import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VOICE_ID, VoiceStore, newVoiceId, type VoiceMeta } from './store.ts';

function meta(overrides: Partial<VoiceMeta> = {}): VoiceMeta {
  return {
    id: newVoiceId(),
    name: 'Anna',
    pool: 'qwen',
    consent: 'c1',
    created_at: new Date().toISOString(),
    duration_seconds: 10,
    sample_rate: 24000,
    source_format: 'wav',
    sha256: 'a'.repeat(64),
    ...overrides,
  };
}

describe('VoiceStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'voicegate-store-')), 'voices');
  });
  afterEach(async () => {
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('creates nothing until the first voice is written', async () => {
    const store = await VoiceStore.open(dir);
    expect(store.list()).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it('ids are unguessable and of the form servers take', () => {
    const ids = new Set(Array.from({ length: 200 }, () => newVoiceId()));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(VOICE_ID);
  });

  it('writes one folder per voice, reads it back after a reopen, updates and deletes it', async () => {
    const store = await VoiceStore.open(dir);
    const a = meta();
    await store.create(a, new Uint8Array([1, 2, 3]));
    expect(await readdir(join(dir, a.id))).toEqual(['reference.wav', 'voice.json']);
    expect(JSON.parse(await readFile(join(dir, a.id, 'voice.json'), 'utf8'))).toEqual(a);
    await store.update({ ...a, cartesia: { voice_id: 'c-1' } });
    const reopened = await VoiceStore.open(dir);
    expect(reopened.get(a.id)).toEqual({ ...a, cartesia: { voice_id: 'c-1' } });
    expect(reopened.byName('Anna')?.id).toBe(a.id);
    expect([...(await reopened.reference(a.id))]).toEqual([1, 2, 3]);
    expect(await reopened.delete(a.id)).toBe(true);
    expect(await reopened.delete(a.id)).toBe(false);
    expect(await readdir(dir)).toEqual(['.tmp']);
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
    expect((await VoiceStore.open(dir)).list()).toEqual([]);
  });

  it('a crash mid-write leaves no voice: .tmp is emptied at open, damaged folders are skipped', async () => {
    const store = await VoiceStore.open(dir);
    const good = meta({ name: 'Good' });
    await store.create(good, new Uint8Array([9]));
    // What a crash leaves: a half-written staging folder, a voice folder without metadata,
    // and one whose metadata is not a voice.
    await mkdir(join(dir, '.tmp', 'voice_half-abc'), { recursive: true });
    await writeFile(join(dir, '.tmp', 'voice_half-abc', 'reference.wav'), 'partial');
    await mkdir(join(dir, 'voice_nometa0000000'));
    await mkdir(join(dir, 'voice_badmeta000000'));
    await writeFile(join(dir, 'voice_badmeta000000', 'voice.json'), '{"id": 42');
    const reopened = await VoiceStore.open(dir);
    expect(reopened.list().map((v) => v.id)).toEqual([good.id]);
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
  });

  it('a failed create leaves nothing behind and keeps the library as it was', async () => {
    const store = await VoiceStore.open(dir);
    const a = meta();
    await store.create(a, new Uint8Array([1]));
    await expect(store.create(a, new Uint8Array([2]))).rejects.toThrow(/exists/);
    await expect(store.create({ ...meta(), id: 'not-an-id' }, new Uint8Array([2]))).rejects.toThrow();
    expect(store.list().map((v) => v.id)).toEqual([a.id]);
    expect((await readdir(dir)).sort()).toEqual(['.tmp', a.id].sort());
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
    expect([...(await store.reference(a.id))]).toEqual([1]);
  });
});
