/** What GET /admin/instances and the console show of one pool instance (docs/routing.md "Operations API"). */
import type { PoolInstance } from './instance.ts';

export interface InstanceSnapshot {
  pool: string;
  id: string;
  url: string;
  /** up | down (active checks) | ejected (passive). */
  health: 'up' | 'down' | 'ejected';
  healthy: boolean;
  draining: boolean;
  weight: number;
  sessions: number;
  streams: number;
  /** Streams it takes now: the learned limit when adaptive, else max_concurrency. */
  capacity: number;
  /** max_concurrency as configured. */
  capacity_configured: number;
  /** While ejected: ms until the ejection may end. */
  ejected_for_ms?: number;
  /**
   * Removed from the pool (e.g. vanished from discovery) but still serving the sessions pinned
   * to it; it leaves the list once they are gone. Absent for members.
   */
  retiring?: true;
}

/** `now`: the ejection clock (PoolOptions.now). */
export function snapshotOf(inst: PoolInstance, now: number): InstanceSnapshot {
  const health = inst.health;
  const snap: InstanceSnapshot = {
    pool: inst.pool,
    id: inst.id,
    url: inst.url,
    health: health.ejected ? 'ejected' : health.up ? 'up' : 'down',
    healthy: inst.healthy,
    draining: inst.draining,
    weight: inst.weight,
    sessions: inst.sessions,
    streams: inst.streams,
    capacity: inst.limit,
    capacity_configured: inst.maxConcurrency,
  };
  if (health.ejected) snap.ejected_for_ms = Math.max(0, health.ejectedUntil - now);
  if (inst.retiring) snap.retiring = true;
  return snap;
}
