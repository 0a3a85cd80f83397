/**
 * The web console (docs/console.md):
 *   GET  /                      the page (src/console/public/index.html)
 *   GET  /console/*             its assets (the committed esbuild bundle, stylesheet, audio meter)
 *   GET  /console/api/feed      the live fleet + calls view as server-sent events (admin key)
 *   POST /console/api/ticket    a one-use ticket for the page's /v1/stream WebSocket (API key)
 *
 * Browsers cannot put an Authorization header on a WebSocket or an EventSource: the page reads
 * the feed with fetch() (headers allowed) and opens /v1/stream with `?ticket=`, a random
 * single-use token that expires after 30 s (StreamTickets' ttlMs), so the API key itself never
 * enters a URL.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Authorizer } from './auth.ts';
import type { ConsoleFeed } from './console-feed.ts';
import type { HttpResponse, HttpRoute, RequestInfo } from './engine.ts';
import { jsonError } from './routes.ts';

/** Where the page and its bundle live (committed; `npm run build:console` rebuilds them). */
export const CONSOLE_PUBLIC_DIR = fileURLToPath(new URL('../console/public/', import.meta.url));

export interface ConsoleRouteOptions {
  readonly feed: ConsoleFeed;
  /** The /admin/* authorizer: the feed shows what GET /admin/instances shows. */
  readonly authorizeAdmin: Authorizer;
  /** The API-key authorizer (tickets are for /v1/stream). */
  readonly authorize: Authorizer;
  readonly tickets: StreamTickets;
  /** Default CONSOLE_PUBLIC_DIR. */
  readonly publicDir?: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

// The page needs nothing from elsewhere: scripts, styles, fetches and the WebSocket are same-origin.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const JSON_HEAD = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer | null;
  readonly etag: string;
}

/** Single-use, short-lived tickets that stand in for the API key on the page's WebSocket. */
export class StreamTickets {
  private readonly live = new Map<string, number>();

  constructor(
    private readonly ttlMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  issue(): { ticket: string; expires_in_ms: number } {
    const now = this.now();
    // Expired ones go when a new one is made: the map stays as small as the page's use.
    for (const [t, expires] of this.live) if (expires <= now) this.live.delete(t);
    const ticket = randomBytes(24).toString('base64url');
    this.live.set(ticket, now + this.ttlMs);
    return { ticket, expires_in_ms: this.ttlMs };
  }

  /** True once per issued, unexpired ticket. */
  redeem(ticket: string | null | undefined): boolean {
    if (!ticket) return false;
    const expires = this.live.get(ticket);
    if (expires === undefined) return false;
    this.live.delete(ticket);
    return expires > this.now();
  }

  /** `authorize`, or else a valid `?ticket=` (the /v1/stream upgrade's authorizer). */
  orElse(authorize: Authorizer): Authorizer {
    return (req) => authorize(req) || this.redeem(req.query.get('ticket'));
  }
}

function loadAsset(path: string): Asset | null {
  let body: Buffer;
  try {
    body = readFileSync(path);
  } catch {
    return null;
  }
  const type = TYPES[extname(path)] ?? 'application/octet-stream';
  const compressible = type.startsWith('text/') || type.startsWith('image/svg');
  return { type, body, gzip: compressible ? gzipSync(body, { level: 9 }) : null, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

function sendAsset(req: RequestInfo, res: HttpResponse, asset: Asset): void {
  // no-cache: the browser revalidates (a 304 costs a round trip, never a stale console).
  const head: Record<string, string> = { 'content-type': asset.type, 'cache-control': 'no-cache', etag: asset.etag, vary: 'accept-encoding', ...SECURITY_HEADERS };
  if (req.headers['if-none-match'] === asset.etag) {
    res.writeHead(304, head);
    res.end();
    return;
  }
  const gzip = asset.gzip !== null && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
  if (gzip) head['content-encoding'] = 'gzip';
  res.writeHead(200, head);
  res.end(gzip ? asset.gzip! : asset.body);
}

export function consoleRoutes(options: ConsoleRouteOptions): HttpRoute[] {
  const dir = options.publicDir ?? CONSOLE_PUBLIC_DIR;
  // Read once, on first request: the committed files do not change under a running gateway.
  const cache = new Map<string, Asset | null>();
  const asset = (name: string): Asset | null => {
    if (!cache.has(name)) cache.set(name, loadAsset(join(dir, name)));
    return cache.get(name)!;
  };
  const notFound = (res: HttpResponse, path: string) => {
    res.writeHead(404, JSON_HEAD);
    res.end(jsonError(404, 'not_found', `no console asset ${path}`));
  };
  const unauthorized = (res: HttpResponse) => {
    res.writeHead(401, JSON_HEAD);
    res.end(jsonError(401, 'unauthorized', 'a valid API key is required (Authorization: Bearer <key>)'));
  };

  return [
    {
      method: 'GET',
      path: '/',
      handler(req, res) {
        const page = asset('index.html');
        if (!page) return notFound(res, 'index.html');
        sendAsset(req, res, page);
      },
    },
    {
      method: 'GET',
      path: '/console/*',
      handler(req, res) {
        const rest = req.path.slice('/console/'.length);
        if (rest === 'api/feed') return feed(req, res);
        const name = rest === '' ? 'index.html' : normalize(rest);
        // Only plain names under the public folder: no traversal, no dotfiles.
        if (name.startsWith('..') || name.includes(`${sep}.`) || name.startsWith('.') || name.includes('\0')) return notFound(res, rest);
        const found = asset(name);
        if (!found) return notFound(res, rest);
        sendAsset(req, res, found);
      },
    },
    {
      method: 'POST',
      path: '/console/api/ticket',
      handler(req, res) {
        if (!options.authorize(req)) return unauthorized(res);
        res.writeHead(200, JSON_HEAD);
        res.end(JSON.stringify(options.tickets.issue()));
      },
    },
  ];

  function feed(req: RequestInfo, res: HttpResponse): void {
    if (!options.authorizeAdmin(req)) return unauthorized(res);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    // A slow reader gets the newest view when it catches up, never a backlog of old ones.
    let writable = true;
    let pending: string | null = null;
    const send = (frame: string) => {
      writable = res.write(frame);
      if (!writable) {
        res.onDrain(() => {
          writable = true;
          const next = pending;
          pending = null;
          if (next !== null) send(next);
        });
      }
    };
    const unsubscribe = options.feed.subscribe({
      view(view) {
        const frame = `data: ${JSON.stringify(view)}\n\n`;
        if (writable) send(frame);
        else pending = frame;
      },
      end: () => res.end(),
    });
    res.onAborted(unsubscribe);
  }
}
