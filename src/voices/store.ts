/**
 * The voice library on disk (`voices.dir`): one folder per voice,
 *
 *   <dir>/<id>/reference.wav   the normalized clip (mono 16-bit PCM WAV)
 *   <dir>/<id>/voice.json      its metadata (VoiceMeta)
 *   <dir>/.tmp/                uploads and folders being written; emptied at start (on a
 *                              shared folder, only entries older than STALE_TMP_MS)
 *
 * Every change is atomic: a voice folder is written whole under .tmp (each file written and
 * fsynced), then renamed into place, and the parent fsynced; metadata is replaced by
 * write + fsync + rename. A crash leaves either the old state or the new one, never half a
 * voice. The folder is the backup unit (docs/voices.md).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';

export const REFERENCE_FILE = 'reference.wav';
export const META_FILE = 'voice.json';
export const TMP_DIR = '.tmp';

/** Library ids: what servers register the voice under, so only characters every server takes. */
export const VOICE_ID = /^voice_[a-z0-9]{12,32}$/;

export const VoiceMetaSchema = z.object({
  id: z.string().regex(VOICE_ID),
  /** The uploader's name for it; unique in the library. */
  name: z.string().min(1).max(100),
  /** The pool that speaks it. */
  pool: z.string().min(1),
  language: z.string().optional(),
  ref_text: z.string().optional(),
  consent: z.string(),
  created_at: z.string(),
  duration_seconds: z.number().positive(),
  sample_rate: z.number().int().positive(),
  /** What was uploaded (the stored clip is always WAV). */
  source_format: z.string(),
  /** Of reference.wav; checked on import. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /**
   * The fallback's clone: its Cartesia voice id and the account it lives in (a digest of the
   * URL and key: a restore onto another account clones again), or why there is none.
   */
  cartesia: z.object({ voice_id: z.string().optional(), account: z.string().optional(), error: z.string().optional() }).optional(),
});

export type VoiceMeta = z.infer<typeof VoiceMetaSchema>;

export function newVoiceId(): string {
  // 80 random bits in base 36: unguessable enough and short enough to type.
  return `voice_${BigInt(`0x${randomBytes(10).toString('hex')}`).toString(36).padStart(16, '0')}`;
}

/** Writes `data` to `path` and fsyncs it before returning. */
async function writeDurable(path: string, data: Uint8Array | string): Promise<void> {
  const handle = await open(path, 'w', 0o640);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync of a directory: makes the renames inside it durable. */
async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** No upload or delete takes this long: older .tmp entries on a shared folder are a crash's leftovers. */
export const STALE_TMP_MS = 60 * 60 * 1000;

async function removeStale(tmp: string, before: number): Promise<void> {
  if (!existsSync(tmp)) return;
  for (const name of await readdir(tmp)) {
    const path = join(tmp, name);
    const info = await stat(path).catch(() => null);
    if (info && info.mtimeMs < before) await rm(path, { recursive: true, force: true });
  }
}

export class VoiceStore {
  private readonly voices = new Map<string, VoiceMeta>();
  private readonly references = new Map<string, Uint8Array>();

  private constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Opens the library folder: empties .tmp (what a crash left half-written) and loads every
   * valid voice. A folder that does not exist yet is created by the first upload, not here.
   * `shared` (voices.dir mounted on several replicas: cluster/voice-index.ts): another
   * replica may be writing under .tmp right now, so only entries older than STALE_TMP_MS go.
   */
  static async open(dir: string, logger: Logger = silentLogger, options: { shared?: boolean } = {}): Promise<VoiceStore> {
    const store = new VoiceStore(dir, logger);
    if (existsSync(dir)) {
      if (options.shared) await removeStale(join(dir, TMP_DIR), Date.now() - STALE_TMP_MS);
      else await rm(join(dir, TMP_DIR), { recursive: true, force: true });
      await store.prepare();
      await store.load();
    }
    return store;
  }

  /** Creates the folder and its .tmp (idempotent): before anything is written. */
  async prepare(): Promise<void> {
    await mkdir(join(this.dir, TMP_DIR), { recursive: true });
  }

  private async load(): Promise<void> {
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === TMP_DIR) continue;
      try {
        const meta = VoiceMetaSchema.parse(JSON.parse(await readFile(join(this.dir, entry.name, META_FILE), 'utf8')));
        if (meta.id !== entry.name) throw new Error(`voice.json names ${meta.id}`);
        this.voices.set(meta.id, meta);
      } catch (err) {
        this.logger.warn({ dir: join(this.dir, entry.name), err }, 'voice library: skipping a folder that is not a valid voice');
      }
    }
  }

  list(): VoiceMeta[] {
    return [...this.voices.values()].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  get(id: string): VoiceMeta | undefined {
    return this.voices.get(id);
  }

  byName(name: string): VoiceMeta | undefined {
    for (const meta of this.voices.values()) if (meta.name === name) return meta;
    return undefined;
  }

  /** A fresh path under .tmp for an upload in progress (the caller removes it). */
  tempPath(prefix: string): string {
    return join(this.dir, TMP_DIR, `${prefix}-${randomBytes(6).toString('hex')}`);
  }

  /** The stored clip (cached: references are small, and every registration needs one). */
  async reference(id: string): Promise<Uint8Array> {
    const cached = this.references.get(id);
    if (cached) return cached;
    if (!this.voices.has(id)) throw new Error(`no voice ${id}`);
    const wav = new Uint8Array(await readFile(join(this.dir, id, REFERENCE_FILE)));
    this.references.set(id, wav);
    return wav;
  }

  /** Adds a voice atomically: all of it appears at once, or nothing does. */
  async create(meta: VoiceMeta, wav: Uint8Array): Promise<void> {
    VoiceMetaSchema.parse(meta);
    if (this.voices.has(meta.id)) throw new Error(`voice ${meta.id} exists`);
    await this.prepare();
    const staging = this.tempPath(meta.id);
    await mkdir(staging);
    try {
      await writeDurable(join(staging, REFERENCE_FILE), wav);
      await writeDurable(join(staging, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
      await syncDir(staging);
      await rename(staging, join(this.dir, meta.id));
      await syncDir(this.dir);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
    this.voices.set(meta.id, meta);
    this.references.set(meta.id, wav);
  }

  /** Replaces a voice's metadata atomically (write, fsync, rename). */
  async update(meta: VoiceMeta): Promise<void> {
    VoiceMetaSchema.parse(meta);
    if (!this.voices.has(meta.id)) throw new Error(`no voice ${meta.id}`);
    const folder = join(this.dir, meta.id);
    const temp = join(folder, `${META_FILE}.tmp`);
    await writeDurable(temp, `${JSON.stringify(meta, null, 2)}\n`);
    await rename(temp, join(folder, META_FILE));
    await syncDir(folder);
    this.voices.set(meta.id, meta);
  }

  /**
   * Takes a voice another replica wrote into the shared folder (cluster/voice-index.ts): known
   * here from now on. False when its folder is not (or no longer) on this replica's disk.
   */
  adopt(meta: VoiceMeta): boolean {
    VoiceMetaSchema.parse(meta);
    if (!existsSync(join(this.dir, meta.id, REFERENCE_FILE))) return false;
    this.voices.set(meta.id, meta);
    return true;
  }

  /** Forgets a voice another replica deleted (its folder is already gone from the shared disk). */
  forget(id: string): boolean {
    this.references.delete(id);
    return this.voices.delete(id);
  }

  /** Removes a voice: renamed out of the library first (atomic), then deleted. */
  async delete(id: string): Promise<boolean> {
    if (!this.voices.has(id)) return false;
    await this.prepare();
    const graveyard = this.tempPath(`deleted-${id}`);
    await rename(join(this.dir, id), graveyard);
    await syncDir(this.dir);
    this.voices.delete(id);
    this.references.delete(id);
    await rm(graveyard, { recursive: true, force: true });
    return true;
  }
}
