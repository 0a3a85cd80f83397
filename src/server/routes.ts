/**
 * What both engines share: route matching (exact paths first, then the longest `/*` prefix)
 * and the answers the engine itself gives (404/405, 408, 413, 500), each with an x-request-id.
 */
import { randomUUID } from 'node:crypto';
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

/** Incoming x-request-id values echoed back; anything else is replaced by a UUID. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request's id for the x-request-id response header: the caller's if sane, else a new UUID. */
export function requestIdOf(req: RequestInfo): string {
  const incoming = req.headers['x-request-id'];
  return incoming !== undefined && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** The answer to a request no route takes: 405 when the path exists with other methods, else 404. */
export function routeMiss(routes: RouteTable, req: RequestInfo): { status: 404 | 405; body: string } {
  if (routes.hasPath(req.path)) return { status: 405, body: jsonError(405, 'method_not_allowed', `${req.method} ${req.path}: method not allowed`) };
  return { status: 404, body: jsonError(404, 'not_found', `${req.method} ${req.path}: no such route`) };
}

export function bodyTooLarge(maxBodyBytes: number): string {
  return jsonError(413, 'body_too_large', `request body exceeds ${maxBodyBytes} bytes`);
}

export function bodyTimedOut(bodyTimeoutMs: number): string {
  return jsonError(408, 'body_timeout', `the request body did not arrive within ${bodyTimeoutMs} ms`);
}

/** A handler threw: 500 while the status can still change, else cut the response off. */
export function answerHandlerFailure(req: RequestInfo, res: HttpResponse): void {
  if (res.aborted) return;
  if (res.headersSent) return res.destroy();
  res.writeHead(500, { 'content-type': 'application/json', 'x-request-id': requestIdOf(req) });
  res.end(jsonError(500, 'internal_error', 'internal error'));
}

/**
 * Whether `path` matches a WebSocket path pattern: exact segments, or `:name` for any one
 * non-empty segment (`/v1/text-to-speech/:voice_id/stream-input`), the syntax uWebSockets.js
 * routes by natively.
 */
export function matchesPathPattern(pattern: string, path: string): boolean {
  if (!pattern.includes('/:')) return pattern === path;
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return false;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (w.startsWith(':') ? got[i] === '' : w !== got[i]) return false;
  }
  return true;
}
