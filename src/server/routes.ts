/** Route matching shared by both engines: exact paths first, then the longest `/*` prefix. */
import type { HttpRoute } from './engine.ts';

export interface RouteTable {
  find(method: string, path: string): HttpRoute | undefined;
  /** Whether any route has this path (to answer 405 rather than 404). */
  hasPath(path: string): boolean;
}

export function createRouteTable(routes: readonly HttpRoute[]): RouteTable {
  const exact = new Map<string, HttpRoute>();
  const prefixes: { prefix: string; route: HttpRoute }[] = [];
  for (const route of routes) {
    if (route.path.endsWith('/*')) prefixes.push({ prefix: route.path.slice(0, -1), route });
    else exact.set(`${route.method} ${route.path}`, route);
  }
  prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  const paths = new Set(routes.map((r) => r.path));
  return {
    find(method, path) {
      const hit = exact.get(`${method} ${path}`);
      if (hit) return hit;
      for (const { prefix, route } of prefixes) if (route.method === method && path.startsWith(prefix)) return route;
      return undefined;
    },
    hasPath(path) {
      if (paths.has(path)) return true;
      return prefixes.some(({ prefix }) => path.startsWith(prefix));
    },
  };
}

export function jsonError(status: number, code: string, message: string): string {
  return JSON.stringify({ error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code } });
}
