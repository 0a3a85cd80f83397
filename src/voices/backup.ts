/**
 * Backup and restore of the voice library (`npm run voices -- export|import`, docs/voices.md):
 * a gzipped tar of the voice folders (`<id>/voice.json`, `<id>/reference.wav`), readable
 * with any tar. Import checks every voice (metadata schema, the clip's sha256, no clash with
 * a voice already there) before it is moved in, folder by folder, atomically.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import * as tar from 'tar';
import { META_FILE, REFERENCE_FILE, VOICE_ID, VoiceMetaSchema, VoiceStore } from './store.ts';

export interface ExportResult {
  readonly file: string;
  readonly voices: string[];
}

/** Writes every voice of `dir` to `file` (.tar.gz). */
export async function exportVoices(dir: string, file: string): Promise<ExportResult> {
  const store = await VoiceStore.open(dir);
  const voices = store.list().map((v) => v.id);
  const entries = voices.flatMap((id) => [`${id}/${META_FILE}`, `${id}/${REFERENCE_FILE}`]);
  // An empty library still exports (an empty archive: two zero blocks), so a backup job never fails for it.
  if (entries.length === 0) await writeFile(file, gzipSync(Buffer.alloc(1024)));
  else await tar.create({ gzip: true, file, cwd: dir, portable: true }, entries);
  return { file, voices };
}

export interface ImportResult {
  readonly imported: string[];
  readonly skipped: { id: string; reason: string }[];
}

/** Restores the voices in `file` into `dir` (created if missing); voices already there are kept. */
export async function importVoices(file: string, dir: string): Promise<ImportResult> {
  const store = await VoiceStore.open(dir);
  await store.prepare();
  const staging = store.tempPath('import');
  await mkdir(staging);
  const imported: string[] = [];
  const skipped: { id: string; reason: string }[] = [];
  try {
    await tar.extract({
      file,
      cwd: staging,
      // Only voice files: nothing else in an archive reaches the disk.
      filter: (path) => {
        const [id, name, ...rest] = path.replace(/^\.\//, '').split('/');
        return rest.length === 0 && VOICE_ID.test(id ?? '') && (name === META_FILE || name === REFERENCE_FILE || name === undefined || name === '');
      },
    });
    for (const id of (await readdir(staging)).sort()) {
      const folder = join(staging, id);
      try {
        const meta = VoiceMetaSchema.parse(JSON.parse(await readFile(join(folder, META_FILE), 'utf8')));
        if (meta.id !== id) throw new Error(`voice.json names ${meta.id}`);
        const wav = await readFile(join(folder, REFERENCE_FILE));
        if (createHash('sha256').update(wav).digest('hex') !== meta.sha256) throw new Error('reference.wav does not match its sha256 (damaged archive)');
        if (store.get(id)) throw new Error('a voice with this id is already in the library');
        const sameName = store.byName(meta.name);
        if (sameName) throw new Error(`voice ${sameName.id} already has the name '${meta.name}'`);
        await store.create(meta, new Uint8Array(wav));
        imported.push(id);
      } catch (err) {
        skipped.push({ id, reason: (err as Error).message });
      }
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { imported, skipped };
}
