/**
 * CORS for the HTTP API (http.cors_origins). Default: no cross-origin access at all, so no
 * Access-Control-* header is ever sent. With origins listed, an allowed Origin is echoed back
 * (with `Vary: Origin`), preflights are answered, and `*` in the list allows every origin.
 */
import type { RequestInfo } from './engine.ts';

export interface CorsOptions {
  /** Allowed origins, exact (`https://app.example.com`) or `*`. Empty = none (default). */
  readonly origins: readonly string[];
  /** Methods announced in preflight answers. Default `GET, POST, OPTIONS`. */
  readonly methods?: string;
  /** Headers allowed in preflight answers. Default: authorization, content-type, x-request-id, x-session-id. */
  readonly allowHeaders?: string;
  /** Response headers scripts may read. Default `x-request-id`. */
  readonly exposeHeaders?: string;
  /** Preflight cache, seconds. Default 600. */
  readonly maxAgeSeconds?: number;
}

export interface Cors {
  /** Headers to add to an actual response (empty when the origin is not allowed). */
  headers(req: RequestInfo): Record<string, string>;
  /** Headers for a preflight answer (empty when the origin is not allowed). */
  preflight(req: RequestInfo): Record<string, string>;
}

const NONE: Record<string, string> = Object.freeze({}) as Record<string, string>;

export function createCors(options: CorsOptions): Cors {
  const any = options.origins.includes('*');
  const allowed = new Set(options.origins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  const methods = options.methods ?? 'GET, POST, OPTIONS';
  const allowHeaders = options.allowHeaders ?? 'authorization, content-type, x-request-id, x-session-id';
  const exposeHeaders = options.exposeHeaders ?? 'x-request-id';
  const maxAge = String(options.maxAgeSeconds ?? 600);

  const allowedOrigin = (req: RequestInfo): string | null => {
    if (allowed.size === 0) return null;
    const origin = req.headers.origin;
    if (!origin) return null;
    return any || allowed.has(origin.toLowerCase()) ? origin : null;
  };

  return {
    headers(req) {
      const origin = allowedOrigin(req);
      if (origin === null) return NONE;
      return { 'access-control-allow-origin': origin, 'access-control-expose-headers': exposeHeaders, vary: 'Origin' };
    },
    preflight(req) {
      const origin = allowedOrigin(req);
      if (origin === null) return NONE;
      return {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': methods,
        'access-control-allow-headers': allowHeaders,
        'access-control-max-age': maxAge,
        vary: 'Origin',
      };
    },
  };
}
