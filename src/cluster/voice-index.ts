/**
 * The voice library's index shared by every replica (cluster.redis_url; issue #24 item 2,
 * docs/voices.md "Several gateway replicas"): every replica lists and speaks every voice.
 *
 * The audio stays on a shared volume (voices.dir mounted on every replica: an NFS export, a
 * ReadWriteMany volume): the uploading replica writes the voice folder atomically as always,
 * then puts its metadata in the Redis hash `voicegate:voices` (field = voice id, value = the
 * voice.json) and publishes the change; the others adopt it from the hash and read the clip
 * from the shared folder on first use. A delete removes the folder, the field, and tells the
 * others. On every `up` each replica re-reads the hash (changes it missed while Redis was
 * away) and seeds it with voices it has on disk that the hash lacks (the first replica of a
 * fresh Redis, or voices restored with `npm run voices -- import`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import type { VoiceChange, VoiceLibrary } from '../voices/library.ts';
import { REFERENCE_FILE, VoiceMetaSchema, type VoiceMeta } from '../voices/store.ts';
import type { ClusterRedis } from './redis.ts';

export const VOICES_KEY = 'voicegate:voices';
export const VOICES_CHANNEL = 'voicegate:voices';

export class SharedVoiceIndex {
  private readonly library: VoiceLibrary;
  private readonly redis: ClusterRedis;
  private readonly logger: Logger;
  private unlisten: (() => void) | null = null;
  private readonly onUp = (): void => void this.reload();

  constructor(options: { library: VoiceLibrary; redis: ClusterRedis; logger: Logger }) {
    this.library = options.library;
    this.redis = options.redis;
    this.logger = options.logger;
  }

  async start(): Promise<void> {
    this.unlisten = this.library.onChange((change) => this.publish(change));
    await this.redis.subscribe(VOICES_CHANNEL, (message) => this.heard(message));
    this.redis.on('up', this.onUp);
    if (this.redis.up) await this.reload();
  }

  stop(): void {
    this.unlisten?.();
    this.unlisten = null;
    this.redis.off('up', this.onUp);
  }

  private publish(change: VoiceChange): void {
    void this.redis
      .command((client) => {
        const multi = client.multi();
        if (change.op === 'put') multi.hSet(VOICES_KEY, change.voice.id, JSON.stringify(change.voice)).publish(VOICES_CHANNEL, `put ${change.voice.id}`);
        else multi.hDel(VOICES_KEY, change.id).publish(VOICES_CHANNEL, `delete ${change.id}`);
        return multi.exec();
      })
      .catch(() => this.logger.warn({ op: change.op }, 'redis unavailable: other replicas learn this voice change when Redis answers again'));
  }

  private heard(message: string): void {
    const [op, id] = message.split(' ', 2);
    if (!id) return;
    if (op === 'delete') {
      this.library.forgetShared(id);
      return;
    }
    if (op === 'put') void this.fetch(id);
  }

  private async fetch(id: string): Promise<void> {
    try {
      const json = await this.redis.command((client) => client.hGet(VOICES_KEY, id));
      if (json) this.adopt(json);
    } catch {
      // Redis went away: the reload on `up` catches up.
    }
  }

  private adopt(json: string): void {
    const parsed = VoiceMetaSchema.safeParse(JSON.parse(json));
    if (!parsed.success) return;
    if (!this.library.adoptShared(parsed.data)) {
      this.logger.warn({ voice: parsed.data.id, dir: this.library.store.dir }, 'voice library: a voice another replica added is not in voices.dir here: mount the same volume on every replica (docs/voices.md)');
    }
  }

  /**
   * Adopts what the hash holds; of the local voices it lacks, forgets those whose folder is gone
   * (deleted elsewhere) and seeds it with the rest.
   */
  private async reload(): Promise<void> {
    try {
      const shared = await this.redis.command((client) => client.hGetAll(VOICES_KEY));
      for (const json of Object.values(shared)) this.adopt(json);
      const missing: VoiceMeta[] = [];
      for (const meta of this.library.list()) {
        if (shared[meta.id] !== undefined) continue;
        // Deleted by another replica while we could not hear: its folder is gone.
        if (!existsSync(join(this.library.store.dir, meta.id, REFERENCE_FILE))) this.library.forgetShared(meta.id);
        else missing.push(meta);
      }
      if (missing.length > 0) {
        await this.redis.command((client) => {
          const multi = client.multi();
          for (const meta of missing) multi.hSetNX(VOICES_KEY, meta.id, JSON.stringify(meta));
          return multi.exec();
        });
      }
    } catch {
      // Down again: the next `up` reloads.
    }
  }
}
