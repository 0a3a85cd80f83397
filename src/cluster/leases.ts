/**
 * Stream slots shared by every replica through Redis (issue #19 item 1 and 3; the SlotStore
 * contract is src/routing/slots.ts). Every slot is a lease: one sorted set per instance,
 * member = lease id, score = expiry in ms on Redis's own clock (TIME inside the scripts, never
 * the gateway's, so replicas with skewed clocks agree). One Lua call per acquire walks the
 * claims in the caller's order and takes the first instance with room; one Lua call per second
 * renews (and, after Redis came back, re-registers) every lease this process holds and beats
 * its replica heartbeat; a lease whose holder died expires after `leaseTtlMs`. A release
 * removes the lease by id and publishes on one channel, so a waiter on any replica wakes.
 *
 * Redis down (ClusterRedis `down`, or a command slower than its bound) never stops a call:
 * acquire answers from local slots of ceil(limit / live replicas), counting this process's own
 * leases (replicas known from the last heartbeat count; never the full cap when there are
 * several). ClusterRedis logs and counts the outage once; on `up` the held leases are
 * re-registered at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SlotClaim, SlotLease, SlotStore } from '../routing/slots.ts';
import type { ClusterRedis, RedisClient } from './redis.ts';

/** Renew period: "the holder renews all its leases in one batched call each second". */
export const LEASE_RENEW_MS = 1000;
/** Safety-net wake-up for waiters if a release message was lost (pub/sub is at most once). */
export const FREE_POLL_MS = 1000;

const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local n = redis.call('ZCARD', key)
  if n < tonumber(ARGV[2 + i]) then
    redis.call('ZADD', key, now + ttl, ARGV[2])
    redis.call('PEXPIRE', key, ttl * 2)
    return {i, n + 1}
  end
end
return {0, 0}`;

const RELEASE = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return removed`;

/** KEYS[1] = replicas set, KEYS[2..] = slot sets; ARGV[1] ttl, ARGV[2] replica id, ARGV[3..] lease ids. */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl * 2)
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], ttl * 2)
end
return redis.call('ZCARD', KEYS[1])`;

const shaCache = new Map<string, string>();
function sha1(source: string): string {
  let sha = shaCache.get(source);
  if (!sha) shaCache.set(source, (sha = createHash('sha1').update(source).digest('hex')));
  return sha;
}

export interface RedisSlotsOptions {
  readonly redis: ClusterRedis;
  /** cluster.lease_ttl_ms (default 3000 in src/config.ts): a dead holder's leases free after it. */
  readonly leaseTtlMs: number;
  /** Key prefix, so several fleets can share one Redis. Default 'voicegate:'. */
  readonly keyPrefix?: string;
  /** Renew period. Default LEASE_RENEW_MS, or leaseTtlMs / 3 when that is shorter. */
  readonly renewMs?: number;
  /** Safety-net wake-up period for waiters. Default FREE_POLL_MS. */
  readonly pollMs?: number;
}

class RedisLease implements SlotLease {
  released = false;
  constructor(
    readonly id: string,
    readonly instanceId: string,
    readonly inFlightAtStart: number,
    readonly key: string,
  ) {}
}

export class RedisSlots implements SlotStore {
  readonly shared = true;
  /** This process in the replicas heartbeat set; also the prefix of its lease ids. */
  readonly replicaId = randomBytes(6).toString('hex');
  private readonly redis: ClusterRedis;
  private readonly ttl: string;
  private readonly prefix: string;
  private readonly channel: string;
  private readonly replicasKey: string;
  private readonly leases = new Map<string, RedisLease>();
  private readonly perInstance = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Scripts sent with EVAL once on this connection (EVALSHA afterwards). */
  private readonly loaded = new Set<string>();
  private next = 0;
  /** Live replicas at the last heartbeat (this one included); divides the cap while Redis is down. */
  private replicas = 1;
  private closed = false;
  private readonly onUp = (): void => void this.renew();

  constructor(options: RedisSlotsOptions) {
    this.redis = options.redis;
    this.ttl = String(options.leaseTtlMs);
    this.prefix = options.keyPrefix ?? 'voicegate:';
    this.channel = `${this.prefix}slots:free`;
    this.replicasKey = `${this.prefix}replicas`;
    this.redis.on('up', this.onUp);
    void this.redis.subscribe(this.channel, () => this.notify());
    // At least three renewals per TTL, so one slow or lost renewal never expires a live lease.
    const renewMs = options.renewMs ?? Math.min(LEASE_RENEW_MS, Math.floor(options.leaseTtlMs / 3));
    const renew = setInterval(() => void this.renew(), renewMs);
    const poll = setInterval(() => this.notify(), options.pollMs ?? FREE_POLL_MS);
    renew.unref();
    poll.unref();
    this.timers.push(renew, poll);
    if (this.redis.up) void this.renew();
  }

  /** Live replicas as last counted by the heartbeat (1 before the first one). */
  get liveReplicas(): number {
    return this.replicas;
  }

  acquire(claims: readonly SlotClaim[]): SlotLease | null | Promise<SlotLease | null> {
    if (this.closed || claims.length === 0) return null;
    if (!this.redis.up) return this.acquireLocally(claims);
    return this.acquireShared(claims);
  }

  private async acquireShared(claims: readonly SlotClaim[]): Promise<SlotLease | null> {
    // Read the claims now: the caller may reuse the array once we return.
    const keys = claims.map((c) => this.key(c.instanceId));
    const ids = claims.map((c) => c.instanceId);
    const id = `${this.replicaId}:${++this.next}`;
    const args = [this.ttl, id, ...claims.map((c) => String(c.limit))];
    let reply: [number, number];
    try {
      reply = (await this.redis.command((client) => this.script(client, ACQUIRE, keys, args))) as [number, number];
    } catch {
      // Unreachable or slow (RedisUnavailableError), or any other failure of the call (a
      // script error): the local fallback answers, as SlotStore.acquire promises never to reject.
      return this.acquireLocally(claims.map((c, i) => ({ instanceId: ids[i]!, limit: c.limit })));
    }
    const [index, count] = reply;
    if (index === 0) return null;
    const instanceId = ids[index - 1]!;
    const lease = new RedisLease(id, instanceId, count, keys[index - 1]!);
    if (this.closed) {
      this.releaseRemote(lease);
      return null;
    }
    this.hold(lease);
    return lease;
  }

  /** Redis is down: this process's share of each cap, counting only its own leases. */
  private acquireLocally(claims: readonly SlotClaim[]): SlotLease | null {
    for (const claim of claims) {
      const held = this.perInstance.get(claim.instanceId) ?? 0;
      if (held >= Math.ceil(claim.limit / Math.max(1, this.replicas))) continue;
      const lease = new RedisLease(`${this.replicaId}:${++this.next}`, claim.instanceId, held + 1, this.key(claim.instanceId));
      this.hold(lease);
      return lease;
    }
    return null;
  }

  release(lease: SlotLease): void {
    const own = this.leases.get(lease.id);
    if (!own || own.released) return;
    own.released = true;
    this.leases.delete(own.id);
    const held = this.perInstance.get(own.instanceId) ?? 0;
    if (held <= 1) this.perInstance.delete(own.instanceId);
    else this.perInstance.set(own.instanceId, held - 1);
    this.releaseRemote(own);
    this.notify();
  }

  held(instanceId: string): number {
    return this.perInstance.get(instanceId) ?? 0;
  }

  onFree(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.redis.off('up', this.onUp);
    for (const lease of [...this.leases.values()]) this.release(lease);
    this.listeners.clear();
  }

  private hold(lease: RedisLease): void {
    this.leases.set(lease.id, lease);
    this.perInstance.set(lease.instanceId, (this.perInstance.get(lease.instanceId) ?? 0) + 1);
  }

  /** Best effort: while Redis is down the lease simply expires there (it was never renewed). */
  private releaseRemote(lease: RedisLease): void {
    if (!this.redis.up) return;
    this.redis.command((client) => this.script(client, RELEASE, [lease.key], [lease.id, this.channel, lease.instanceId])).catch(() => {});
  }

  /** One batched call: heartbeat, renew (or re-register) every held lease, count live replicas. */
  private async renew(): Promise<void> {
    if (this.closed || !this.redis.up) return;
    const keys = [this.replicasKey];
    const args = [this.ttl, this.replicaId];
    for (const lease of this.leases.values()) {
      keys.push(lease.key);
      args.push(lease.id);
    }
    try {
      const live = (await this.redis.command((client) => this.script(client, RENEW, keys, args))) as number;
      this.replicas = Math.max(1, live);
    } catch {
      // Down: ClusterRedis logged and counted it; the next `up` renews at once.
    }
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  private key(instanceId: string): string {
    return `${this.prefix}slots:${instanceId}`;
  }

  /**
   * EVALSHA (EVAL the first time, which also caches the script in Redis; again after NOSCRIPT,
   * i.e. a restarted Redis). The command is sent before this returns its promise, so commands
   * on one connection keep their order: a release is in Redis before the next acquire.
   */
  private async script(client: RedisClient, source: string, keys: string[], args: string[]): Promise<unknown> {
    if (!this.loaded.has(source)) {
      this.loaded.add(source);
      return client.eval(source, { keys, arguments: args });
    }
    try {
      return await client.evalSha(sha1(source), { keys, arguments: args });
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(source, { keys, arguments: args });
    }
  }
}
