/**
 * Operations routes over the fleet (docs/routing.md):
 *   GET  /admin/instances               every instance: pool, id, url, health, draining, load
 *   POST /admin/instances/{id}/drain    no new sessions there; live ones carry on
 *   POST /admin/instances/{id}/undrain
 * Every route asks `authorize` first (401 JSON error when it says no).
 */
import type { Fleet } from '../routing/fleet.ts';
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

/** The fleet's own admin surface, bound (its methods are used detached). */
export function adminFleet(fleet: Pick<Fleet, 'snapshot' | 'drain' | 'undrain'>): AdminFleet {
  return { snapshot: () => fleet.snapshot(), drain: (id) => fleet.drain(id), undrain: (id) => fleet.undrain(id) };
}

function send(res: HttpResponse, status: number, body: string): void {
  res.writeHead(status, JSON_HEAD);
  res.end(body);
}

export function adminRoutes(fleet: AdminFleet, authorize: (req: RequestInfo) => boolean): HttpRoute[] {
  const denied = (req: RequestInfo, res: HttpResponse): boolean => {
    if (authorize(req)) return false;
    send(res, 401, jsonError(401, 'unauthorized', 'a valid API key is required'));
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
        if (!found) {
          send(res, 404, jsonError(404, 'unknown_instance', `no instance with id ${id}`));
          return;
        }
        send(res, 200, JSON.stringify({ instances: fleet.snapshot().filter((s) => (s as { id?: string }).id === id) }));
      },
    },
  ];
}
