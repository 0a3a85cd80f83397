/** Liveness, readiness and metrics routes. */
import type { Metrics } from '../metrics.ts';
import type { Authorizer } from './auth.ts';
import type { HttpRoute } from './engine.ts';
import { jsonError } from './routes.ts';

export interface HealthRouteOptions {
  readonly metrics: Metrics;
  /**
   * The gateway's readiness (gateway.ts): 200 once warm, not draining, not at
   * server.max_sessions, and with an instance up or a fallback configured; else 503 with why.
   */
  readonly ready: () => { ready: boolean; reason: string };
  /** Applied to /metrics only when auth.protect_metrics is set. */
  readonly authorizeMetrics: Authorizer;
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

export function healthRoutes(options: HealthRouteOptions): HttpRoute[] {
  return [
    {
      method: 'GET',
      path: '/health',
      handler(_req, res) {
        res.writeHead(200, JSON_HEADERS);
        res.end('{"status":"ok"}');
      },
    },
    {
      method: 'GET',
      path: '/ready',
      handler(_req, res) {
        const { ready, reason } = options.ready();
        res.writeHead(ready ? 200 : 503, JSON_HEADERS);
        res.end(JSON.stringify({ status: ready ? 'ready' : 'not_ready', reason }));
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      async handler(req, res) {
        if (!options.authorizeMetrics(req)) {
          res.writeHead(401, JSON_HEADERS);
          res.end(jsonError(401, 'unauthorized', 'missing or invalid API key'));
          return;
        }
        const body = await options.metrics.render();
        res.writeHead(200, { 'content-type': options.metrics.registry.contentType });
        res.end(body);
      },
    },
  ];
}
