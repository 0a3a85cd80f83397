/**
 * Backup and restore of the voice library (`npm run voices -- export|import`, docs/voices.md):
 * a gzipped tar of the voice folders (`<id>/voice.json`, `<id>/reference.wav`) and a manifest
 * (`voicegate-voices.json`), readable with any tar. Import checks every voice (metadata schema,
 * the clip's sha256, no clash of id or name with a voice already there) before it is moved in,
 * folder by folder, atomically (VoiceStore.create).
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { META_FILE, REFERENCE_FILE, VOICE_ID, VoiceMetaSchema, VoiceStore } from './store.ts';

export interface ExportResult {
  readonly file: string;
  readonly voices: string[];
}

/** At the archive's root: what made it and what it holds (an archive is never empty). */
export const MANIFEST_FILE = 'voicegate-voices.json';

/**
 * Writes every voice of `dir` to `file` (.tar.gz): a snapshot staged in a temporary folder
 * (voices are small), so tar never reads a file being replaced. A voice added meanwhile is not
 * in it; one deleted between the listing and its copy fails the export (copyFile: ENOENT).
 */
export async function exportVoices(dir: string, file: string): Promise<ExportResult> {
  const store = await VoiceStore.open(dir);
  const voices = store.list().map((v) => v.id);
  const staging = await mkdtemp(join(tmpdir(), 'voicegate-export-'));
  try {
    for (const id of voices) {
      await mkdir(join(staging, id));
      await copyFile(join(dir, id, META_FILE), join(staging, id, META_FILE));
      await copyFile(join(dir, id, REFERENCE_FILE), join(staging, id, REFERENCE_FILE));
    }
    await writeFile(join(staging, MANIFEST_FILE), `${JSON.stringify({ format: 1, exported_at: new Date().toISOString(), voices }, null, 2)}\n`);
    await tar.create({ gzip: true, file, cwd: staging, portable: true }, [MANIFEST_FILE, ...voices]);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
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
    for (const id of (await readdir(staging)).filter((name) => VOICE_ID.test(name)).sort()) {
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
