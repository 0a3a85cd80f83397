import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MANIFEST_FILE, exportVoices, importVoices } from './backup.ts';
import { VoiceStore, newVoiceId, type VoiceMeta } from './store.ts';

async function addVoice(store: VoiceStore, name: string, wav: Uint8Array): Promise<VoiceMeta> {
  const meta: VoiceMeta = {
    id: newVoiceId(),
    name,
    pool: 'qwen',
    consent: 'c',
    created_at: new Date().toISOString(),
    duration_seconds: 5,
    sample_rate: 24000,
    source_format: 'wav',
    sha256: createHash('sha256').update(wav).digest('hex'),
  };
  await store.create(meta, wav);
  return meta;
}

async function listArchive(file: string): Promise<string[]> {
  const entries: string[] = [];
  await tar.list({ file, onReadEntry: (entry) => void entries.push(entry.path) });
  return entries.sort();
}

describe('voice library backup', () => {
  let work: string;
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'voicegate-backup-'));
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('exports every voice and restores them byte for byte into an empty folder', async () => {
    const store = await VoiceStore.open(join(work, 'a'));
    const anna = await addVoice(store, 'Anna', new Uint8Array([1, 2, 3]));
    const ben = await addVoice(store, 'Ben', new Uint8Array([4, 5]));
    const file = join(work, 'backup.tar.gz');
    expect((await exportVoices(join(work, 'a'), file)).voices.sort()).toEqual([anna.id, ben.id].sort());
    expect(await listArchive(file)).toEqual([MANIFEST_FILE, `${anna.id}/`, `${anna.id}/reference.wav`, `${anna.id}/voice.json`, `${ben.id}/`, `${ben.id}/reference.wav`, `${ben.id}/voice.json`].sort());
    const result = await importVoices(file, join(work, 'b'));
    expect(result).toEqual({ imported: [anna.id, ben.id].sort(), skipped: [] });
    const restored = await VoiceStore.open(join(work, 'b'));
    expect(restored.get(anna.id)).toEqual(anna);
    expect([...(await restored.reference(ben.id))]).toEqual([4, 5]);
    // Again: nothing changes, each voice says why it was skipped.
    const again = await importVoices(file, join(work, 'b'));
    expect(again.imported).toEqual([]);
    expect(again.skipped.map((s) => s.reason)).toEqual(['a voice with this id is already in the library', 'a voice with this id is already in the library']);
  });

  it('an empty library exports an archive that imports as nothing', async () => {
    const file = join(work, 'empty.tar.gz');
    expect((await exportVoices(join(work, 'none'), file)).voices).toEqual([]);
    expect(await importVoices(file, join(work, 'b'))).toEqual({ imported: [], skipped: [] });
  });

  it('skips damaged voices and a name already taken; extracts nothing but voice files', async () => {
    const src = join(work, 'src');
    const good = newVoiceId();
    const damaged = newVoiceId();
    const clash = newVoiceId();
    const wav = Buffer.from([7, 7, 7]);
    const sha = createHash('sha256').update(wav).digest('hex');
    const meta = (id: string, name: string, sha256 = sha) => JSON.stringify({ id, name, pool: 'qwen', consent: 'c', created_at: '2026-12-04T00:00:00Z', duration_seconds: 5, sample_rate: 24000, source_format: 'wav', sha256 });
    for (const [id, name, sum] of [[good, 'Good', sha], [damaged, 'Damaged', 'f'.repeat(64)], [clash, 'Taken', sha]] as const) {
      await mkdir(join(src, id), { recursive: true });
      await writeFile(join(src, id, 'voice.json'), meta(id, name, sum));
      await writeFile(join(src, id, 'reference.wav'), wav);
    }
    await writeFile(join(src, 'evil.sh'), 'echo owned');
    const file = join(work, 'crafted.tar.gz');
    await tar.create({ gzip: true, file, cwd: src, portable: true }, [good, damaged, clash, 'evil.sh']);
    const dest = join(work, 'dest');
    const existing = await VoiceStore.open(dest);
    await addVoice(existing, 'Taken', new Uint8Array([1]));
    const result = await importVoices(file, dest);
    expect(result.imported).toEqual([good]);
    expect(Object.fromEntries(result.skipped.map((s) => [s.id, s.reason]))).toEqual({
      [damaged]: 'reference.wav does not match its sha256 (damaged archive)',
      [clash]: expect.stringContaining("already has the name 'Taken'"),
    });
    expect(existsSync(join(dest, 'evil.sh'))).toBe(false);
    expect(existsSync(join(dest, damaged))).toBe(false);
    expect(JSON.parse(await readFile(join(dest, good, 'voice.json'), 'utf8')).name).toBe('Good');
  });
});
