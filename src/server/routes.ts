/** Route matching shared by both engines: exact paths first, then the longest `/*` prefix. */
import type { HttpResponse, HttpRoute, RequestInfo } from './engine.ts';

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

/** The answer to a request no route takes: 405 when the path exists with other methods, else 404. */
export function routeMiss(routes: RouteTable, req: RequestInfo): { status: 404 | 405; body: string } {
  if (routes.hasPath(req.path)) return { status: 405, body: jsonError(405, 'method_not_allowed', `${req.method} ${req.path}: method not allowed`) };
  return { status: 404, body: jsonError(404, 'not_found', `${req.method} ${req.path}: no such route`) };
}

export function bodyTooLarge(maxBodyBytes: number): string {
  return jsonError(413, 'body_too_large', `request body exceeds ${maxBodyBytes} bytes`);
}

/** A handler threw: 500 while the status can still change, else cut the response off. */
export function answerHandlerFailure(res: HttpResponse): void {
  if (res.aborted) return;
  if (res.headersSent) return res.destroy();
  res.writeHead(500, { 'content-type': 'application/json' });
  res.end(jsonError(500, 'internal_error', 'internal error'));
}
