/**
 * Drain and undrain made on one replica apply on all (issue #19 item 2; docs/scaling.md).
 *
 * The drained set lives in one Redis hash, `voicegate:draining` (field = instance id, value =
 * "1"), so a replica that starts or reconnects later reads the truth (on every `up`); each
 * change is also published so the others apply it at once. Without Redis, drain stays local to
 * the process, as before. Drain is by instance id across pools, as Fleet.drain is.
 */
import type { Logger } from '../log.ts';
import type { Fleet } from '../routing/fleet.ts';
import type { InstanceEvent } from '../routing/events.ts';
import type { ClusterRedis } from './redis.ts';

export const DRAINING_KEY = 'voicegate:draining';
export const DRAIN_CHANNEL = 'voicegate:drain';

export class SharedDrain {
  private readonly fleet: Fleet;
  private readonly redis: ClusterRedis;
  private readonly logger: Logger;
  /** True while applying a change heard from Redis: it is not published back. */
  private applying = false;
  private readonly onInstance = (event: InstanceEvent): void => {
    if (this.applying || (event.type !== 'draining' && event.type !== 'undrained')) return;
    this.publish(event.instance, event.type === 'draining');
  };
  private readonly onUp = (): void => void this.reload();

  constructor(options: { fleet: Fleet; redis: ClusterRedis; logger: Logger }) {
    this.fleet = options.fleet;
    this.redis = options.redis;
    this.logger = options.logger;
  }

  async start(): Promise<void> {
    this.fleet.on('instance', this.onInstance);
    await this.redis.subscribe(DRAIN_CHANNEL, (message) => {
      const draining = message.startsWith('1');
      this.apply(message.slice(2), draining);
    });
    this.redis.on('up', this.onUp);
    if (this.redis.up) await this.reload();
  }

  stop(): void {
    this.fleet.off('instance', this.onInstance);
    this.redis.off('up', this.onUp);
  }

  private publish(id: string, draining: boolean): void {
    void this.redis
      .command((client) => {
        const multi = client.multi();
        if (draining) multi.hSet(DRAINING_KEY, id, '1');
        else multi.hDel(DRAINING_KEY, id);
        return multi.publish(DRAIN_CHANNEL, `${draining ? 1 : 0} ${id}`).exec();
      })
      .catch(() => this.logger.warn({ instance: id, draining }, 'redis unavailable: drain applied on this replica only'));
  }

  private apply(id: string, draining: boolean): void {
    this.applying = true;
    try {
      if (draining) this.fleet.drain(id);
      else this.fleet.undrain(id);
    } finally {
      this.applying = false;
    }
  }

  /** Makes every local instance's drain state match the hash. */
  private async reload(): Promise<void> {
    try {
      const drained = await this.redis.command((client) => client.hGetAll(DRAINING_KEY));
      for (const pool of this.fleet.routers) {
        for (const inst of pool.instances) {
          const want = drained[inst.id] === '1';
          if (inst.draining !== want) this.apply(inst.id, want);
        }
      }
    } catch {
      // Down again: the next `up` reloads.
    }
  }
}
