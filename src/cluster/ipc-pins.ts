/**
 * Remembered pins shared by the workers of one process set without Redis (server.workers > 1,
 * no cluster.redis_url; routing/pins.ts, docs/scaling.md): the primary holds the one
 * LocalPinStore (PinHost), each worker keeps a view of it (IpcPinStore).
 *
 * `recall` reads the worker's view: a Map lookup, no IPC on the call's path. `remember` writes
 * the view at once and queues the pin; the queue goes to the primary as one one-way message per
 * event-loop turn, however many sessions pinned or ended in it. The primary applies each batch
 * and sends it on to the other workers. Every store merges a write unless it holds a later one
 * of the same pin (LocalPinStore.merge), so two workers re-pinning one session at once end up
 * agreeing whatever order the batches cross in: the last write made wins. A worker
 * that starts (or replaces a dead one) first loads a snapshot of the primary's pins. Pins
 * outlive the worker that made them: they belong to the session, not to a process.
 *
 * Expiries travel as absolute times on Date.now's clock: every process of the set runs on one
 * machine, so they agree, and every view forgets a pin at the same moment.
 */
import { LocalPinStore, type PinStore } from '../routing/pins.ts';
import type { IpcChannel } from './ipc.ts';

/**
 * Pins as they travel: pool, key, instance id, expiry (ms on Date.now's clock), repeated, in one
 * flat array. Flat, not an array per pin: a busy worker sends hundreds per turn, and the
 * allocation and serialisation of small arrays cost twice as much (bench/RESULTS.md).
 */
export type PinBatch = (string | number)[];

/** What a worker asks the primary about pins. */
export type PinHostMethods = {
  /** One-way: pins remembered on that worker since its last batch. */
  pinRemember: [PinBatch, void];
  /** Every pin the primary holds, for a worker that starts. */
  pinSnapshot: [null, PinBatch];
};
/** What the primary tells workers about pins. */
export type PinWorkerMethods = {
  /** One-way: a batch another worker remembered. */
  pinSet: [PinBatch, void];
};

/**
 * A snapshot carries every pin (at most LOCAL_PIN_CAP, about 20 MB of JSON at the cap) in one
 * message: allow a busy primary time to send it.
 */
const SNAPSHOT_TIMEOUT_MS = 30_000;

export interface PinHostOptions {
  /** cluster.pin_ttl_s in ms. */
  readonly ttlMs: number;
}

/** In the primary: the one LocalPinStore, served to every worker's channel. */
export class PinHost {
  private readonly store: LocalPinStore;
  private readonly channels = new Set<IpcChannel<PinHostMethods, PinWorkerMethods>>();

  constructor(options: PinHostOptions) {
    this.store = new LocalPinStore({ ttlMs: options.ttlMs });
  }

  serve(channel: IpcChannel<PinHostMethods, PinWorkerMethods>): void {
    this.channels.add(channel);
    channel.handle('pinRemember', (batch) => {
      mergeBatch(this.store, batch);
      for (const each of this.channels) if (each !== channel) each.notify('pinSet', batch);
    });
    channel.handle('pinSnapshot', () => {
      const batch: PinBatch = [];
      for (const [pool, key, instanceId, expires] of this.store.entries()) batch.push(pool, key, instanceId, expires);
      return batch;
    });
  }

  /** The worker behind `channel` is gone. Its pins stay: they belong to the sessions. */
  drop(channel: IpcChannel<PinHostMethods, PinWorkerMethods>): void {
    this.channels.delete(channel);
  }

  /** The instance the primary remembers for `key` (tests). */
  recall(pool: string, key: string): string | undefined {
    return this.store.recall(pool, key);
  }
}

export interface IpcPinStoreOptions {
  /** cluster.pin_ttl_s in ms. */
  readonly ttlMs: number;
}

/** In a worker: a PinStore whose truth lives in the primary, read from a local view. */
export class IpcPinStore implements PinStore {
  private readonly view: LocalPinStore;
  private readonly ttlMs: number;
  private queue: PinBatch = [];
  private flushing: ReturnType<typeof setImmediate> | null = null;
  private closed = false;

  constructor(
    private readonly channel: IpcChannel<PinWorkerMethods, PinHostMethods>,
    options: IpcPinStoreOptions,
  ) {
    this.ttlMs = options.ttlMs;
    this.view = new LocalPinStore({ ttlMs: options.ttlMs });
    channel.handle('pinSet', (batch) => this.apply(batch));
  }

  /**
   * Loads the primary's pins into the view. Call before the worker takes calls (broadcasts
   * that cross the snapshot are merged like any write: the later one wins).
   */
  async start(): Promise<void> {
    this.apply(await this.channel.request('pinSnapshot', null, SNAPSHOT_TIMEOUT_MS));
  }

  recall(pool: string, key: string): string | undefined {
    return this.view.recall(pool, key);
  }

  remember(pool: string, key: string, instanceId: string): void {
    if (this.closed) return;
    const expires = Date.now() + this.ttlMs;
    this.view.set(pool, key, instanceId, expires);
    this.queue.push(pool, key, instanceId, expires);
    this.flushing ??= setImmediate(this.flush);
  }

  /** Pins in this worker's view (tests). */
  get size(): number {
    return this.view.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.flushing !== null) clearImmediate(this.flushing);
    // Pins of the last sessions this worker ended still reach the primary.
    this.flush();
    this.closed = true;
    await this.view.close();
  }

  private readonly flush = (): void => {
    this.flushing = null;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    // Dropped silently if the primary is gone: the view still holds the pins.
    this.channel.notify('pinRemember', batch);
  };

  private apply(batch: PinBatch): void {
    if (!this.closed) mergeBatch(this.view, batch);
  }
}

function mergeBatch(store: LocalPinStore, batch: PinBatch): void {
  for (let i = 0; i + 3 < batch.length; i += 4) store.merge(batch[i] as string, batch[i + 1] as string, batch[i + 2] as string, batch[i + 3] as number);
}
