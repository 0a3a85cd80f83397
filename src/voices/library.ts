/**
 * The voice library: uploaded reference voices (store.ts) kept present on every instance of
 * their pool and on the fallback.
 *
 * - Upload: validate, normalize, store atomically, register on every healthy instance of the
 *   pool, clone once on Cartesia when it is the fallback. Refused when the pool cannot clone,
 *   and rolled back when every instance refuses the reference.
 * - Every instance has it: `ensureOn(instance, voiceId)` registers a voice on an instance that
 *   lacks it (checked by listing the server's voices). The library wraps every backend so a
 *   synthesis on any instance (the pin, a failover target) ensures first; instances that come
 *   up, join or return from ejection are synced in the background; an instance that answers a
 *   library voice with a 4xx (it restarted between health checks) gets it again, once.
 * - Accepted by sessions: a library voice id is added to its pool's `voices` (the list every
 *   protocol checks a requested voice against), and its Cartesia clone to `fallback.voice_map`.
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import type { BackendAudio } from '../audio/format.ts';
import { encodeWav } from '../audio/wav.ts';
import { BackendError, isBackendError, raceAbort, type Backend, type SynthesisRequest, type VoiceCloning, type VoiceReference } from '../backends/backend.ts';
import type { Config, PoolConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import type { InstanceEvent } from '../routing/events.ts';
import type { Fleet } from '../routing/fleet.ts';
import { normalizeReference } from './audio.ts';
import { cartesiaAccount, cloneOnCartesia } from './cartesia-clone.ts';
import { VoiceError } from './errors.ts';
import { VoiceStore, newVoiceId, type VoiceMeta } from './store.ts';

/** A change made through this library (the shared index publishes it: cluster/voice-index.ts). */
export type VoiceChange = { readonly op: 'put'; readonly voice: VoiceMeta } | { readonly op: 'delete'; readonly id: string };

export interface VoiceLibraryOptions {
  /** voices, pools and fallback are read; pools[].voices and fallback.voice_map gain library entries. */
  readonly config: Pick<Config, 'voices' | 'pools' | 'fallback'>;
  readonly store: VoiceStore;
  readonly logger?: Logger;
}

/** What an upload names besides the clip (the multipart fields). */
export interface VoiceUpload {
  /** The uploaded file, already on disk under the store's .tmp (removed by upload()). */
  readonly file: string;
  readonly name: string;
  readonly refText?: string;
  readonly language?: string;
  /** Default: the first pool that can clone. */
  readonly pool?: string;
  readonly consent?: string;
}

export interface UploadResult {
  readonly voice: VoiceMeta;
  /** Per instance of the pool: `registered`, `reference` (sent with each request) or why it failed. */
  readonly instances: Record<string, string>;
}

/** How `pool`'s servers learn a voice (from its configuration): none when its backend cannot clone. */
export function cloningModeOf(pool: PoolConfig): 'none' | 'upload' | 'reference' {
  return pool.backend === 'openai' ? pool.options.voice_cloning : 'none';
}

/** A registration that no caller may cancel (many segments wait on one), bounded by its own timeout. */
interface Registration {
  readonly done: Promise<void>;
}

const instanceKey = (pool: string, instance: string): string => `${pool}\u0000${instance}`;

export class VoiceLibrary {
  readonly store: VoiceStore;
  private readonly config: VoiceLibraryOptions['config'];
  private readonly logger: Logger;
  /** Voice ids each instance is known to hold (forgotten at any event of the instance, or when it refuses one). */
  private readonly confirmed = new Map<string, Set<string>>();
  private readonly pending = new Map<string, Registration>();
  /** Names of uploads between their check and their store: a concurrent duplicate is refused. */
  private readonly reserved = new Set<string>();
  private fleet: Fleet | null = null;
  private readonly onInstance = (event: InstanceEvent): void => this.instanceChanged(event);
  private readonly changeListeners = new Set<(change: VoiceChange) => void>();

  constructor(options: VoiceLibraryOptions) {
    this.store = options.store;
    this.config = options.config;
    this.logger = options.logger ?? silentLogger;
    for (const meta of this.store.list()) this.admit(meta);
  }

  /** `shared`: voices.dir is shared by several replicas (cluster.redis_url; VoiceStore.open). */
  static async open(config: VoiceLibraryOptions['config'], logger: Logger = silentLogger, options: { shared?: boolean } = {}): Promise<VoiceLibrary> {
    return new VoiceLibrary({ config, store: await VoiceStore.open(config.voices.dir, logger, options), logger });
  }

  list(): VoiceMeta[] {
    return this.store.list();
  }

  get(id: string): VoiceMeta | undefined {
    return this.store.get(id);
  }

  /**
   * Whether a failover of `voiceId` to the fallback changes the voice: true for a library voice
   * without a Cartesia clone in the configured account (the fallback then speaks its mapped
   * default). For the session core's `failover` event; false for voices not in the library.
   */
  fallbackChangesVoice(voiceId: string): boolean {
    const meta = this.store.get(voiceId);
    return meta !== undefined && this.cartesiaCloneOf(meta) === undefined;
  }

  /** Follows the fleet: instances that come (back) up are synced, those that go down forgotten. */
  attach(fleet: Fleet): void {
    this.fleet = fleet;
    fleet.on('instance', this.onInstance);
  }

  detach(): void {
    this.fleet?.off('instance', this.onInstance);
    this.fleet = null;
  }

  /** Hears every upload and delete made through this library (not those adopted from peers). */
  onChange(listener: (change: VoiceChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(change: VoiceChange): void {
    for (const listener of this.changeListeners) listener(change);
  }

  /**
   * A voice another replica uploaded (or updated) into the shared folder: listed and spoken
   * here too. Instances register it on first use (ensureOn). False when its folder is not on
   * this replica's disk (voices.dir is not shared: docs/voices.md).
   */
  adoptShared(meta: VoiceMeta): boolean {
    const known = this.store.get(meta.id);
    if (known && JSON.stringify(known) === JSON.stringify(meta)) return true;
    if (!this.store.adopt(meta)) return false;
    this.admit(meta);
    return true;
  }

  /** A voice another replica deleted: no longer listed or spoken here. */
  forgetShared(id: string): void {
    const meta = this.store.get(id);
    if (!meta) return;
    this.dismiss(meta);
    this.store.forget(id);
    for (const held of this.confirmed.values()) held.delete(id);
  }

  // ---- sessions see library voices -------------------------------------------------------

  private admit(meta: VoiceMeta): void {
    const pool = this.config.pools.find((p) => p.name === meta.pool);
    if (!pool) {
      this.logger.warn({ voice: meta.id, pool: meta.pool }, 'voice library: the voice\'s pool is not configured; it is kept but not spoken');
      return;
    }
    if (!pool.voices.includes(meta.id)) pool.voices.push(meta.id);
    const cartesiaId = this.cartesiaCloneOf(meta);
    if (cartesiaId && this.config.fallback) {
      const map = this.config.fallback.voice_map;
      map[meta.id] = cartesiaId;
      // The fallback maps a voice twice (the session's voiceFor, then the Cartesia backend):
      // the clone's id must map to itself, not on to `default`.
      map[cartesiaId] = cartesiaId;
    }
  }

  /** The voice's Cartesia clone in the configured fallback's account, if it has one. */
  private cartesiaCloneOf(meta: VoiceMeta): string | undefined {
    const clone = meta.cartesia;
    if (!clone?.voice_id || !this.config.fallback) return undefined;
    // A clone from another account (a restore onto another gateway) does not exist here.
    if (clone.account !== undefined && clone.account !== cartesiaAccount(this.config.fallback)) return undefined;
    return clone.voice_id;
  }

  private dismiss(meta: VoiceMeta): void {
    const pool = this.config.pools.find((p) => p.name === meta.pool);
    const at = pool?.voices.indexOf(meta.id) ?? -1;
    if (pool && at >= 0) pool.voices.splice(at, 1);
    const cartesiaId = meta.cartesia?.voice_id;
    if (this.config.fallback) {
      delete this.config.fallback.voice_map[meta.id];
      if (cartesiaId) delete this.config.fallback.voice_map[cartesiaId];
    }
  }

  // ---- upload and delete -----------------------------------------------------------------

  /** The pool an upload goes to, or the VoiceError that refuses it. */
  private poolFor(name: string | undefined): PoolConfig {
    if (name !== undefined) {
      const pool = this.config.pools.find((p) => p.name === name);
      if (!pool) throw new VoiceError(400, 'unknown_pool', `no pool named '${name}'; pools: ${this.config.pools.map((p) => p.name).join(', ')}`, 'pool');
      if (cloningModeOf(pool) === 'none') {
        throw new VoiceError(400, 'pool_cannot_clone', `pool '${name}' (backend ${pool.backend}) cannot clone voices: set pools[].options.voice_cloning (upload or reference) on an openai pool whose servers clone (docs/voices.md)`, 'pool');
      }
      return pool;
    }
    const pool = this.config.pools.find((p) => cloningModeOf(p) !== 'none');
    if (!pool) throw new VoiceError(400, 'pool_cannot_clone', 'no pool can clone voices: set pools[].options.voice_cloning on an openai pool whose servers clone (docs/voices.md)', 'pool');
    return pool;
  }

  /** Checks what can be checked before the clip is read (name, pool); throws VoiceError. */
  precheck(name: string, pool: string | undefined): PoolConfig {
    const target = this.poolFor(pool);
    if (this.store.byName(name) || this.reserved.has(name)) throw new VoiceError(409, 'duplicate_name', `a voice named '${name}' exists; delete it first or choose another name`, 'name');
    return target;
  }

  async upload(upload: VoiceUpload): Promise<UploadResult> {
    try {
      const pool = this.precheck(upload.name, upload.pool);
      this.reserved.add(upload.name);
      try {
        const bytes = new Uint8Array(await readFile(upload.file));
        const { voices } = this.config;
        const clip = await normalizeReference(bytes, { minSeconds: voices.min_seconds, maxSeconds: voices.max_seconds, sampleRate: voices.sample_rate });
        const wav = new Uint8Array(encodeWav(clip.pcm));
        const meta: VoiceMeta = {
          id: newVoiceId(),
          name: upload.name,
          pool: pool.name,
          ...(upload.language ? { language: upload.language } : {}),
          ...(upload.refText ? { ref_text: upload.refText } : {}),
          consent: upload.consent || voices.default_consent,
          created_at: new Date().toISOString(),
          duration_seconds: Math.round(clip.durationSeconds * 1000) / 1000,
          sample_rate: clip.pcm.sampleRate,
          source_format: clip.format,
          sha256: createHash('sha256').update(wav).digest('hex'),
        };
        try {
          await this.store.create(meta, wav);
        } catch (err) {
          throw new VoiceError(500, 'storage_failed', `the voice could not be stored: ${(err as Error).message}`);
        }
        const instances = await this.registerEverywhere(meta, pool);
        const results = Object.values(instances);
        if (results.length > 0 && results.every((r) => r.startsWith('refused'))) {
          await this.store.delete(meta.id);
          throw new VoiceError(422, 'rejected_by_backend', `every instance of pool '${pool.name}' refused the reference: ${results[0]}`, 'audio');
        }
        this.admit(meta);
        const voice = await this.cloneOnFallback(meta);
        this.changed({ op: 'put', voice });
        this.logger.info({ voice: meta.id, name: meta.name, pool: meta.pool, seconds: meta.duration_seconds, instances, cartesia: voice.cartesia }, 'voice library: voice added');
        return { voice, instances };
      } finally {
        this.reserved.delete(upload.name);
      }
    } finally {
      await rm(upload.file, { force: true });
    }
  }

  /**
   * Removes a voice from the library, then (in the background) from the instances known to
   * hold it; an instance that misses the delete forgets the voice at its next restart.
   */
  async delete(id: string): Promise<VoiceMeta> {
    const meta = this.store.get(id);
    if (!meta) throw new VoiceError(404, 'voice_not_found', `no voice '${id}' in the library`);
    this.dismiss(meta);
    await this.store.delete(id);
    const holders: string[] = [];
    for (const [key, held] of this.confirmed) if (held.delete(id)) holders.push(key.split('\u0000')[1]!);
    this.changed({ op: 'delete', id });
    this.logger.info({ voice: id, name: meta.name }, 'voice library: voice deleted');
    const pool = this.fleet?.pool(meta.pool);
    for (const instance of holders) {
      const cloning = pool?.instance(instance)?.backend.cloning;
      void cloning?.removeVoice(id, AbortSignal.timeout(this.config.voices.register_timeout_ms)).catch((err: unknown) => {
        this.logger.warn({ pool: meta.pool, instance, voice: id, err }, 'voice library: could not delete a voice from an instance; it forgets it when it restarts');
      });
    }
    return meta;
  }

  /** Registers `meta` on every healthy instance of its pool; the result per instance. */
  private async registerEverywhere(meta: VoiceMeta, pool: PoolConfig): Promise<Record<string, string>> {
    const results: Record<string, string> = {};
    const live = this.fleet?.pool(pool.name)?.instances.filter((inst) => inst.healthy) ?? [];
    await Promise.all(
      live.map(async (inst) => {
        const cloning = inst.backend.cloning;
        if (!cloning) return void (results[inst.id] = 'cannot clone');
        if (cloning.mode === 'reference') return void (results[inst.id] = 'reference');
        try {
          await this.ensureWith(pool.name, inst.id, cloning, meta, AbortSignal.timeout(this.config.voices.register_timeout_ms));
          results[inst.id] = 'registered';
        } catch (err) {
          const refused = isBackendError(err) && err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 429;
          results[inst.id] = `${refused ? 'refused' : 'failed'}: ${(err as Error).message}`;
        }
      }),
    );
    return results;
  }

  private async cloneOnFallback(meta: VoiceMeta): Promise<VoiceMeta> {
    const fallback = this.config.fallback;
    if (!fallback) return meta;
    let cartesia: VoiceMeta['cartesia'];
    try {
      const voiceId = await cloneOnCartesia(
        fallback,
        { name: `${meta.name} (voicegate ${meta.id})`, language: meta.language ?? this.config.pools.find((p) => p.name === meta.pool)?.language ?? 'en', wav: await this.store.reference(meta.id) },
        AbortSignal.timeout(this.config.voices.register_timeout_ms),
      );
      cartesia = { voice_id: voiceId, account: cartesiaAccount(fallback) };
    } catch (err) {
      cartesia = { error: (err as Error).message };
      this.logger.warn({ voice: meta.id, err }, 'voice library: Cartesia clone failed; the fallback speaks its mapped default voice for it');
    }
    // Deleted while Cartesia was cloning: nothing to record.
    if (!this.store.get(meta.id)) return meta;
    const updated: VoiceMeta = { ...meta, cartesia };
    await this.store.update(updated);
    const stale = meta.cartesia?.voice_id;
    if (stale && this.config.fallback && stale !== cartesia.voice_id) {
      delete this.config.fallback.voice_map[meta.id];
      delete this.config.fallback.voice_map[stale];
    }
    this.admit(updated);
    return updated;
  }

  // ---- every instance has it -------------------------------------------------------------

  /**
   * Makes sure the instance holds the library voice `voiceId` before a synthesis there: lists
   * the server's voices and registers it when missing. Resolves at once for voices that are
   * not in the library, instances already known to hold it, and backends that take the
   * reference with each request. Throws a retryable BackendError when registration fails (the
   * caller moves on to another instance), or when `signal` aborts (the registration itself
   * carries on for the next caller).
   */
  async ensureOn(instance: { readonly pool: string; readonly id: string }, voiceId: string, signal: AbortSignal): Promise<void> {
    const meta = this.store.get(voiceId);
    if (!meta) return;
    const cloning = this.fleet?.pool(instance.pool)?.instance(instance.id)?.backend.cloning;
    if (!cloning || cloning.mode === 'reference') return;
    await this.ensureWith(instance.pool, instance.id, cloning, meta, signal);
  }

  private ensureWith(pool: string, instance: string, cloning: VoiceCloning, meta: VoiceMeta, signal: AbortSignal): Promise<void> {
    const key = instanceKey(pool, instance);
    if (this.confirmed.get(key)?.has(meta.id)) return Promise.resolve();
    const pendingKey = `${key}\u0000${meta.id}`;
    let registration = this.pending.get(pendingKey);
    if (!registration) {
      const done = (async () => {
        const timeout = AbortSignal.timeout(this.config.voices.register_timeout_ms);
        const held = await cloning.listVoices(timeout).catch(() => null);
        if (!held?.includes(meta.id)) {
          await cloning.registerVoice(await this.referenceOf(meta), timeout);
          this.logger.info({ pool, instance, voice: meta.id }, 'voice library: voice registered on instance');
        }
        this.markHeld(key, meta.id);
      })();
      done.catch(() => {}).finally(() => this.pending.delete(pendingKey));
      registration = { done };
      this.pending.set(pendingKey, registration);
    }
    return raceAbort(registration.done, signal, () => new BackendError('aborted', 'voice registration wait cancelled')).catch((err: unknown) => {
      if (isBackendError(err) && (err.code === 'aborted' || err.retryable)) throw err;
      // A refusal here is this instance's (its model cannot clone, it is misconfigured): another may take it.
      throw new BackendError('protocol', `voice ${meta.id} could not be registered on ${instance}: ${(err as Error).message}`, isBackendError(err) ? err.status : undefined, { cause: err });
    });
  }

  private markHeld(key: string, voiceId: string): void {
    let held = this.confirmed.get(key);
    if (!held) this.confirmed.set(key, (held = new Set()));
    held.add(voiceId);
  }

  private forget(key: string, voiceId?: string): void {
    if (voiceId === undefined) this.confirmed.delete(key);
    else this.confirmed.get(key)?.delete(voiceId);
  }

  async referenceOf(meta: VoiceMeta): Promise<VoiceReference> {
    return { id: meta.id, name: meta.name, wav: await this.store.reference(meta.id), refText: meta.ref_text, language: meta.language, consent: meta.consent };
  }

  private instanceChanged(event: InstanceEvent): void {
    // A learned limit that moved, a drain or an undrain leaves the server as it was: what it
    // holds is still confirmed (forgetting would cost a voice listing on its next use).
    if (event.type === 'capacity' || event.type === 'draining' || event.type === 'undrained') return;
    const key = instanceKey(event.pool, event.instance);
    // Whatever it held may be gone (a restart forgets uploaded voices): ask again next time.
    this.forget(key);
    if (event.type === 'up' || event.type === 'joined' || event.type === 'restored') void this.syncInstance(event.pool, event.instance);
  }

  /** Registers every library voice of the pool that the instance lacks (background; logs failures). */
  async syncInstance(pool: string, instance: string): Promise<void> {
    const voices = this.store.list().filter((v) => v.pool === pool);
    const cloning = this.fleet?.pool(pool)?.instance(instance)?.backend.cloning;
    if (voices.length === 0 || !cloning || cloning.mode === 'reference') return;
    await Promise.all(
      voices.map((meta) =>
        this.ensureWith(pool, instance, cloning, meta, AbortSignal.timeout(this.config.voices.register_timeout_ms)).catch((err: unknown) => {
          this.logger.warn({ pool, instance, voice: meta.id, err }, 'voice library: could not register a voice on an instance; retried before its next use there');
        }),
      ),
    );
  }

  /**
   * At start: syncs every healthy instance of every pool, and clones on the fallback the voices
   * that have no clone in its account (uploaded before the fallback was configured, a clone
   * that failed, or a restore onto another Cartesia account).
   */
  async syncAll(): Promise<void> {
    const jobs: Promise<unknown>[] = [];
    if (this.config.fallback) {
      for (const meta of this.store.list()) {
        if (!this.cartesiaCloneOf(meta)) jobs.push(this.cloneOnFallback(meta).catch((err: unknown) => this.logger.warn({ voice: meta.id, err }, 'voice library: could not store the Cartesia clone')));
      }
    }
    if (!this.fleet) {
      await Promise.all(jobs);
      return;
    }
    for (const pool of this.fleet.routers) for (const inst of pool.instances) if (inst.healthy) jobs.push(this.syncInstance(pool.pool, inst.id));
    await Promise.all(jobs);
  }

  /**
   * The backend of one instance, made library-aware: a synthesis with a library voice first
   * ensures the instance holds it (upload mode) or carries the reference (reference mode).
   */
  wrapBackend(pool: PoolConfig, instanceId: string, backend: Backend): Backend {
    const cloning = backend.cloning;
    if (!cloning) return backend;
    const key = instanceKey(pool.name, instanceId);
    const synthesize = async function* (this: VoiceLibrary, req: SynthesisRequest, signal: AbortSignal): AsyncIterable<BackendAudio> {
      const meta = this.store.get(req.voice);
      if (!meta) return yield* backend.synthesize(req, signal);
      if (cloning.mode === 'reference') return yield* backend.synthesize({ ...req, reference: await this.referenceOf(meta) }, signal);
      await this.ensureWith(pool.name, instanceId, cloning, meta, signal);
      let produced = false;
      try {
        for await (const audio of backend.synthesize(req, signal)) {
          produced = true;
          yield audio;
        }
      } catch (err) {
        if (produced || signal.aborted || !isBackendError(err) || err.code !== 'http_4xx') throw err;
        // The server forgot the voice (it restarted between two health checks): once more.
        this.logger.info({ pool: pool.name, instance: instanceId, voice: meta.id }, 'voice library: instance refused a registered voice; registering it again');
        this.forget(key, meta.id);
        await this.ensureWith(pool.name, instanceId, cloning, meta, signal);
        yield* backend.synthesize(req, signal);
      }
    };
    const wrapped = (req: SynthesisRequest, signal: AbortSignal): AsyncIterable<BackendAudio> => synthesize.call(this, req, signal);
    // Everything else is the backend's own, members added to Backend later included.
    return new Proxy(backend, {
      get(target, prop) {
        if (prop === 'synthesize') return wrapped;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}
