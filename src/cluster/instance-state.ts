/**
 * Drain, undrain and passive ejections made on one replica apply on all (issue #19 item 2;
 * docs/scaling.md). Without Redis they stay local to the process, as before.
 *
 *   - Drain: the drained set lives in one Redis hash, `voicegate:draining` (field = instance
 *     id, value "1"), so a replica that starts or reconnects later reads the truth on every
 *     `up`. By instance id across pools, as Fleet.drain is.
 *   - Ejection: one key per ejected instance, `voicegate:ejected:<pool>\0<id>`, expiring when
 *     the ejection does; other replicas eject it for the rest of that time and then run their
 *     own half-open probe (instance-health.ts), so each replica still decides for itself when
 *     it is back.
 *
 * Every change is also published on `voicegate:instances`, so the others apply it at once.
 * Active health checks stay per replica: each one's own network path is what it must judge.
 */
import type { Logger } from '../log.ts';
import type { InstanceEvent } from '../routing/events.ts';
import type { Fleet } from '../routing/fleet.ts';
import type { ClusterRedis } from './redis.ts';

export const DRAINING_KEY = 'voicegate:draining';
export const EJECTED_KEY_PREFIX = 'voicegate:ejected:';
export const INSTANCES_CHANNEL = 'voicegate:instances';

/** What one replica tells the others. */
type InstanceMessage =
  | { readonly op: 'drain' | 'undrain'; readonly id: string }
  | { readonly op: 'eject'; readonly pool: string; readonly id: string; readonly ms: number; readonly reason: string };

export class SharedInstanceState {
  private readonly fleet: Fleet;
  private readonly redis: ClusterRedis;
  private readonly logger: Logger;
  /** True while applying a change heard from Redis: it is not published back. */
  private applying = false;
  private readonly onInstance = (event: InstanceEvent): void => {
    if (this.applying) return;
    if (event.type === 'draining' || event.type === 'undrained') this.publish({ op: event.type === 'draining' ? 'drain' : 'undrain', id: event.instance });
    else if (event.type === 'ejected' && event.durationMs !== undefined) this.publish({ op: 'eject', pool: event.pool, id: event.instance, ms: event.durationMs, reason: event.reason ?? 'ejected' });
  };
  private readonly onUp = (): void => void this.reload();

  constructor(options: { fleet: Fleet; redis: ClusterRedis; logger: Logger }) {
    this.fleet = options.fleet;
    this.redis = options.redis;
    this.logger = options.logger;
  }

  async start(): Promise<void> {
    this.fleet.on('instance', this.onInstance);
    await this.redis.subscribe(INSTANCES_CHANNEL, (message) => {
      try {
        this.apply(JSON.parse(message) as InstanceMessage);
      } catch {
        // Not ours (another version's format): ignored.
      }
    });
    this.redis.on('up', this.onUp);
    if (this.redis.up) await this.reload();
  }

  stop(): void {
    this.fleet.off('instance', this.onInstance);
    this.redis.off('up', this.onUp);
  }

  private publish(message: InstanceMessage): void {
    void this.redis
      .command((client) => {
        const multi = client.multi();
        if (message.op === 'drain') multi.hSet(DRAINING_KEY, message.id, '1');
        else if (message.op === 'undrain') multi.hDel(DRAINING_KEY, message.id);
        else if (message.op === 'eject') multi.set(`${EJECTED_KEY_PREFIX}${message.pool}\u0000${message.id}`, message.reason, { expiration: { type: 'PX', value: message.ms } });
        return multi.publish(INSTANCES_CHANNEL, JSON.stringify(message)).exec();
      })
      .catch(() => this.logger.warn({ instance: message.id, op: message.op }, 'redis unavailable: instance change applied on this replica only'));
  }

  private apply(message: InstanceMessage): void {
    this.applying = true;
    try {
      if (message.op === 'drain') this.fleet.drain(message.id);
      else if (message.op === 'undrain') this.fleet.undrain(message.id);
      else if (message.op === 'eject') this.fleet.pool(message.pool)?.adoptEjection(message.id, message.ms, `peer: ${message.reason}`);
    } finally {
      this.applying = false;
    }
  }

  /** Makes every local instance's drain state match the hash, and adopts live ejections. */
  private async reload(): Promise<void> {
    try {
      const drained = await this.redis.command((client) => client.hGetAll(DRAINING_KEY));
      for (const pool of this.fleet.routers) {
        for (const inst of pool.instances) {
          const want = drained[inst.id] === '1';
          if (inst.draining !== want) this.apply({ op: want ? 'drain' : 'undrain', id: inst.id });
        }
      }
      for (const pool of this.fleet.routers) {
        const keys = pool.instances.map((inst) => `${EJECTED_KEY_PREFIX}${pool.pool}\u0000${inst.id}`);
        if (keys.length === 0) continue;
        const ttls = await this.redis.command((client) => {
          const multi = client.multi();
          for (const key of keys) multi.pTTL(key);
          return multi.exec();
        });
        pool.instances.forEach((inst, i) => {
          const ms = Number(ttls[i]);
          if (ms > 0) this.apply({ op: 'eject', pool: pool.pool, id: inst.id, ms, reason: 'ejected' });
        });
      }
    } catch {
      // Down again: the next `up` reloads.
    }
  }
}
