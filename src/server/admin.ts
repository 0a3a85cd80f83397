/**
 * Operations routes over the fleet (docs/routing.md):
 *   GET  /admin/instances               every instance (pool, id, url, health, draining, load,
 *                                       queued), then the fallback's contexts
 *   POST /admin/instances/{id}/drain    no new sessions there; live ones carry on
 *   POST /admin/instances/{id}/undrain
 * Every route asks the admin authorizer first (auth.ts createAdminAuth): 401 without a valid
 * admin key; 403 for a non-local request when no key is configured (local requests only).
 * Every change (drain, undrain) is logged with who asked.
 */
import type { Logger } from '../log.ts';
import type { Fleet } from '../routing/fleet.ts';
import type { InstanceSnapshot } from '../routing/snapshot.ts';
import type { SessionFactory } from '../session/factory.ts';
import type { AdminAuth } from './auth.ts';
import type { HttpResponse, HttpRoute, RequestInfo } from './engine.ts';
import { jsonError } from './routes.ts';

const JSON_HEAD = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } as const;
const PREFIX = '/admin/instances/';

/** What the admin routes list (instances, and the fallback's contexts) and act on. */
export interface AdminFleet {
  snapshot(): readonly object[];
  drain(id: string): boolean;
  undrain(id: string): boolean;
}

/** One instance as the operations API and the console show it. */
export interface InstanceStatus extends InstanceSnapshot {
  /**
   * Segments in the pool's wait queue whose session is pinned here (the instance they try
   * first). Only segments still waiting: one that got a slot, gave up or was cancelled is gone.
   */
  queued: number;
}

/** The routers' snapshots with each instance's waiting segments from its pool's wait queue. */
export function instanceStatuses(snapshots: readonly InstanceSnapshot[], queues: SessionFactory['queues']): InstanceStatus[] {
  return snapshots.map((snap) => ({ ...snap, queued: queues.get(snap.pool)?.waitingFor(snap.id) ?? 0 }));
}

/**
 * The fleet's admin surface, bound (its methods are used detached): every instance with its
 * queued segments, then the fallback's contexts in use when there is a fallback.
 */
export function adminFleet(fleet: Pick<Fleet, 'snapshot' | 'drain' | 'undrain'>, sessions: Pick<SessionFactory, 'queues' | 'fallback'>): AdminFleet {
  return {
    snapshot: () => {
      const list: object[] = instanceStatuses(fleet.snapshot(), sessions.queues);
      if (sessions.fallback) list.push(sessions.fallback.snapshot());
      return list;
    },
    drain: (id) => fleet.drain(id),
    undrain: (id) => fleet.undrain(id),
  };
}

function send(res: HttpResponse, status: number, body: string): void {
  res.writeHead(status, JSON_HEAD);
  res.end(body);
}

export function adminRoutes(fleet: AdminFleet, auth: AdminAuth, logger?: Logger): HttpRoute[] {
  const denied = (req: RequestInfo, res: HttpResponse): boolean => {
    if (auth.authorize(req)) return false;
    if (auth.mode === 'loopback') {
      send(res, 403, jsonError(403, 'admin_local_only', 'no admin key is configured (auth.admin_keys): admin routes answer requests from this machine only'));
    } else {
      send(res, 401, jsonError(401, 'unauthorized', 'a valid admin key is required (auth.admin_keys, else auth.api_keys)'));
    }
    logger?.warn({ method: req.method, path: req.path, remote: req.remoteAddress }, 'admin request refused');
    return true;
  };

  return [
    {
      method: 'GET',
      path: '/admin/instances',
      handler(req, res) {
        if (denied(req, res)) return;
        send(res, 200, JSON.stringify({ instances: fleet.snapshot() }));
      },
    },
    {
      method: 'POST',
      path: '/admin/instances/*',
      handler(req, res) {
        if (denied(req, res)) return;
        // {id}/{action}; ids are URL-safe as derived, but decode what an operator may escape.
        const rest = req.path.slice(PREFIX.length);
        const slash = rest.lastIndexOf('/');
        const action = slash < 0 ? '' : rest.slice(slash + 1);
        let id = '';
        try {
          id = decodeURIComponent(rest.slice(0, Math.max(0, slash)));
        } catch {
          id = '';
        }
        if ((action !== 'drain' && action !== 'undrain') || id === '') {
          send(res, 404, jsonError(404, 'not_found', `no such admin action: ${req.path}`));
          return;
        }
        const found = action === 'drain' ? fleet.drain(id) : fleet.undrain(id);
        logger?.info({ action, instance: id, found, remote: req.remoteAddress, auth: auth.mode }, `admin: ${action} ${id}`);
        if (!found) {
          send(res, 404, jsonError(404, 'unknown_instance', `no instance with id ${id}`));
          return;
        }
        send(res, 200, JSON.stringify({ instances: fleet.snapshot().filter((s) => (s as { id?: string }).id === id) }));
      },
    },
  ];
}
