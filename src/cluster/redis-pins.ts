/**
 * Remembered pins shared by every replica through Redis (cluster.redis_url; routing/pins.ts).
 *
 * Each pin is one key `voicegate:pin:<pool>\0<key>` → instance id, with a PX expiry of
 * cluster.pin_ttl_s, so Redis itself forgets pins nobody refreshes. Every write is also
 * published; each replica applies the broadcasts to a LocalPinStore, its view, which is what
 * `recall` reads synchronously (Router.pin is synchronous and on every session start). When
 * Redis comes back (`up`) the view is reloaded from the keys, so pins written while this
 * replica could not hear are not lost. While Redis is down, pins are remembered locally only.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import { LocalPinStore, pinId, type PinStore } from '../routing/pins.ts';
import type { ClusterRedis } from './redis.ts';

export const PIN_KEY_PREFIX = 'voicegate:pin:';
export const PIN_CHANNEL = 'voicegate:pins';
/** Keys read per round trip while reloading the view. */
const RELOAD_BATCH = 500;

export interface RedisPinStoreOptions {
  readonly redis: ClusterRedis;
  /** cluster.pin_ttl_s in ms. */
  readonly ttlMs: number;
  readonly logger: Logger;
  /** Cap of the local view (LocalPinStore). */
  readonly cap?: number;
}

export class RedisPinStore implements PinStore {
  private readonly view: LocalPinStore;
  private readonly redis: ClusterRedis;
  private readonly ttlMs: number;
  private readonly logger: Logger;
  /** Our own broadcasts come back to us: skip them. */
  private readonly origin = randomUUID();
  private readonly onUp = (): void => void this.reload();
  private closed = false;

  constructor(options: RedisPinStoreOptions) {
    this.redis = options.redis;
    this.ttlMs = options.ttlMs;
    this.logger = options.logger;
    this.view = new LocalPinStore({ ttlMs: options.ttlMs, cap: options.cap });
  }

  /** Subscribes to broadcasts and loads the pins Redis holds now (again on every `up`). */
  async start(): Promise<void> {
    await this.redis.subscribe(PIN_CHANNEL, (message) => this.apply(message));
    this.redis.on('up', this.onUp);
    if (this.redis.up) await this.reload();
  }

  recall(pool: string, key: string): string | undefined {
    return this.view.recall(pool, key);
  }

  remember(pool: string, key: string, instanceId: string): void {
    const id = pinId(pool, key);
    this.view.remember(pool, key, instanceId);
    if (!this.redis.up) return;
    // Message: origin \n instance \n pin id (pool \0 key; the key may hold anything but is last).
    const message = `${this.origin}\n${instanceId}\n${id}`;
    void this.redis
      .command((client) => client.multi().set(PIN_KEY_PREFIX + id, instanceId, { expiration: { type: 'PX', value: this.ttlMs } }).publish(PIN_CHANNEL, message).exec())
      .catch(() => {
        // Down is logged and counted once by ClusterRedis; the pin stays in our view.
      });
  }

  /** Pins in this replica's view (tests). */
  get size(): number {
    return this.view.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.redis.off('up', this.onUp);
    await this.view.close();
  }

  private apply(message: string): void {
    const first = message.indexOf('\n');
    const second = message.indexOf('\n', first + 1);
    if (first < 0 || second < 0 || message.slice(0, first) === this.origin) return;
    // Expiry on our clock from now: replicas' clocks need not agree.
    this.setFromId(message.slice(second + 1), message.slice(first + 1, second), Date.now() + this.ttlMs);
  }

  /** `id` is pinId(pool, key). */
  private setFromId(id: string, instance: string, expires: number): void {
    const at = id.indexOf('\u0000');
    if (at < 0) return;
    this.view.set(id.slice(0, at), id.slice(at + 1), instance, expires);
  }

  /** Reads every pin key (SCAN, batched GET + PTTL) into the view. */
  private async reload(): Promise<void> {
    if (this.closed) return;
    let loaded = 0;
    try {
      let cursor = '0';
      do {
        const reply = await this.redis.command((client) => client.scan(cursor, { MATCH: `${PIN_KEY_PREFIX}*`, COUNT: RELOAD_BATCH }));
        cursor = String(reply.cursor);
        if (reply.keys.length === 0) continue;
        const keys = reply.keys;
        const values = await this.redis.command((client) => {
          const multi = client.multi();
          for (const k of keys) multi.get(k).pTTL(k);
          return multi.exec();
        });
        const now = Date.now();
        for (let i = 0; i < keys.length; i++) {
          const instance = values[2 * i];
          const ttl = Number(values[2 * i + 1]);
          if (typeof instance !== 'string' || !(ttl > 0)) continue;
          this.setFromId(keys[i]!.slice(PIN_KEY_PREFIX.length), instance, now + ttl);
          loaded++;
        }
      } while (cursor !== '0' && !this.closed);
      this.logger.debug({ pins: loaded }, 'pins reloaded from redis');
    } catch {
      // Redis went down mid-reload: the next `up` reloads again.
    }
  }
}
