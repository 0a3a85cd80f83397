/**
 * DNS-based instance discovery: one name that resolves to one address per GPU server (a
 * Kubernetes headless Service, a Consul DNS name, a round-robin A record), re-resolved every
 * `interval_ms`. Addresses that appear join the pool's ring; addresses that vanish leave it
 * (Pool.removeInstance: no new sessions, pinned sessions carry on until they end or fail over).
 * Ids come from the URL (instanceIdFromUrl), so every gateway replica derives the same ids and
 * therefore the same pins. docs/deploy.md, docs/routing.md.
 *
 *   const discovery = new DnsDiscovery({ pool, config: poolConfig.discovery });
 *   discovery.on('change', (c) => log.info(c, 'instances changed'));
 *   await discovery.start();   // first answer applied; then every interval_ms
 */
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { instanceIdFromUrl, type DiscoveryConfig, type InstanceConfig } from '../config.ts';
import { VoicegateError } from '../errors.ts';
import { RoutingError } from './errors.ts';

/** Address families asked for (DiscoveryConfig.family). */
export type AddressFamily = DiscoveryConfig['family'];

/**
 * Resolves a hostname to its addresses (IPv4 dotted or IPv6 text). Rejecting means "no answer"
 * (the membership is kept); resolving to [] means "no instance" (every discovered one leaves).
 */
export type Resolver = (hostname: string, family: AddressFamily) => Promise<string[]>;

/** The part of Pool discovery drives. */
export interface MembershipTarget {
  readonly pool: string;
  addInstance(config: InstanceConfig): { readonly id: string };
  removeInstance(id: string): boolean;
}

export interface DnsDiscoveryOptions {
  readonly pool: MembershipTarget;
  /** Name, port, scheme, period and the weight/max_concurrency of discovered instances. */
  readonly config: DiscoveryConfig;
  /** Default: node:dns lookup() with all: true (getaddrinfo: /etc/hosts and search domains apply). */
  readonly resolve?: Resolver;
  /** One resolution slower than this fails (membership kept). Default min(interval_ms, 5000). */
  readonly timeoutMs?: number;
}

export interface DiscoveredInstance {
  readonly id: string;
  readonly url: string;
}

export interface DiscoveryChange {
  readonly pool: string;
  readonly dns: string;
  readonly added: readonly DiscoveredInstance[];
  readonly removed: readonly DiscoveredInstance[];
  /** Discovered members after the change. */
  readonly members: number;
}

export interface DiscoveryFailure {
  readonly pool: string;
  readonly dns: string;
  readonly error: Error;
}

export interface DiscoveryEvents {
  /** Some instances joined or left. */
  change: [DiscoveryChange];
  /** A resolution failed or timed out; nothing changed. */
  failed: [DiscoveryFailure];
}

/** A resolution that took longer than DnsDiscoveryOptions.timeoutMs. */
export class DiscoveryError extends VoicegateError<'discovery_timeout'> {
  constructor(message: string) {
    super('discovery_timeout', message);
  }
}

/** getaddrinfo through node:dns, in its own order (apply() sorts the URLs it adds). */
export const systemResolver: Resolver = async (hostname, family) => {
  const answers = await lookup(hostname, { all: true, family: family === 'ipv4' ? 4 : family === 'ipv6' ? 6 : 0 });
  return answers.map((a) => a.address);
};

/** The instance URL of an address: IPv6 literals in brackets. */
export function addressUrl(scheme: string, address: string, port: number): string {
  return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

export class DnsDiscovery extends EventEmitter<DiscoveryEvents> {
  private readonly pool: MembershipTarget;
  private readonly config: DiscoveryConfig;
  private readonly resolve: Resolver;
  private readonly timeoutMs: number;
  /** URL → id of the instances this discovery added (static instances are never touched). */
  private readonly owned = new Map<string, string>();
  private inFlight: Promise<DiscoveryChange | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  private stopped = false;

  constructor(options: DnsDiscoveryOptions) {
    super();
    this.pool = options.pool;
    this.config = options.config;
    this.resolve = options.resolve ?? systemResolver;
    this.timeoutMs = options.timeoutMs ?? Math.min(options.config.interval_ms, 5000);
  }

  /** Discovered instances now, sorted by URL. */
  get instances(): DiscoveredInstance[] {
    return [...this.owned].map(([url, id]) => ({ id, url })).sort((a, b) => (a.url < b.url ? -1 : 1));
  }

  /** Resolves once now (the pool has its first members when this settles), then every interval_ms. */
  async start(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    await this.refresh();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh().finally(() => this.schedule());
    }, this.config.interval_ms);
    this.timer.unref?.();
  }

  /**
   * Resolves the name once and applies the difference. Resolves with the change (null when the
   * resolution failed, after a `failed` event); never rejects. Calls made while one runs join it.
   */
  refresh(): Promise<DiscoveryChange | null> {
    if (this.stopped) return Promise.resolve(null);
    this.inFlight ??= this.runRefresh().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async runRefresh(): Promise<DiscoveryChange | null> {
    const { dns } = this.config;
    let addresses: string[];
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DiscoveryError(`resolving ${dns} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      });
      addresses = await Promise.race([this.resolve(dns, this.config.family), timeout]);
    } catch (err) {
      if (!this.stopped) this.emit('failed', { pool: this.pool.pool, dns, error: err instanceof Error ? err : new Error(String(err)) });
      return null;
    } finally {
      clearTimeout(timer);
    }
    if (this.stopped) return null;
    return this.apply(addresses);
  }

  /** Makes the discovered membership equal to `addresses`. */
  private apply(addresses: readonly string[]): DiscoveryChange {
    const { scheme, port, weight, max_concurrency } = this.config;
    const wanted = new Set(addresses.map((a) => addressUrl(scheme, a, port)));
    const removed: DiscoveredInstance[] = [];
    for (const [url, id] of this.owned) {
      if (wanted.has(url)) continue;
      this.pool.removeInstance(id);
      this.owned.delete(url);
      removed.push({ id, url });
    }
    const added: DiscoveredInstance[] = [];
    for (const url of [...wanted].sort()) {
      if (this.owned.has(url)) continue;
      const id = instanceIdFromUrl(url);
      try {
        this.pool.addInstance({ id, url, weight, max_concurrency });
      } catch (err) {
        // Listed statically too: the static entry stays in charge of it.
        if (err instanceof RoutingError && err.code === 'duplicate_instance') continue;
        throw err;
      }
      this.owned.set(url, id);
      added.push({ id, url });
    }
    const change: DiscoveryChange = { pool: this.pool.pool, dns: this.config.dns, added, removed, members: this.owned.size };
    if (added.length > 0 || removed.length > 0) this.emit('change', change);
    return change;
  }

  /** Stops re-resolving; discovered instances stay in the pool (the pool is stopped by its owner). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
