/**
 * The page's only ways to the gateway: the API key (typed into the page, kept in this tab's
 * sessionStorage, sent as `Authorization: Bearer`, never in a URL), the live feed read with
 * fetch() (an EventSource cannot send the header), admin actions and stream tickets.
 */
import type { ConsoleView } from '../../server/console-feed.ts';

export type { CallView, ConsoleView, InstanceView, PoolView } from '../../server/console-feed.ts';

const KEY_STORAGE = 'voicegate.console.key';

let apiKey: string = readStoredKey();

function readStoredKey(): string {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function getKey(): string {
  return apiKey;
}

export function setKey(key: string): void {
  apiKey = key;
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage refused (private mode): the key stays in memory for this page.
  }
}

export class UnauthorizedError extends Error {
  constructor() {
    super('a valid API key is required');
  }
}

export function authHeaders(): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

/** fetch() with the key; 401 becomes UnauthorizedError, other failures an Error with the server's message. */
export async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(path, { ...init, headers: { ...authHeaders(), ...(init.headers as Record<string, string> | undefined) } });
  if (res.status === 401) throw new UnauthorizedError();
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: { message?: string } };
      if (body.error?.message) message = body.error.message;
    } catch {
      // Not JSON: the status line says enough.
    }
    throw new Error(message);
  }
  return res;
}

export async function setDraining(instanceId: string, draining: boolean): Promise<void> {
  await call(`/admin/instances/${encodeURIComponent(instanceId)}/${draining ? 'drain' : 'undrain'}`, { method: 'POST' });
}

/** A one-use ticket for the page's /v1/stream WebSocket (the key stays out of its URL). */
export async function streamTicket(): Promise<string> {
  const res = await call('/console/api/ticket', { method: 'POST' });
  return ((await res.json()) as { ticket: string }).ticket;
}

export interface FeedHandlers {
  view(view: ConsoleView): void;
  unauthorized(): void;
  /** Connected (true) or lost and retrying (false). */
  status(connected: boolean): void;
}

/** Follows /console/api/feed (server-sent events) until `signal` aborts; reconnects after 1 s. */
export async function followFeed(handlers: FeedHandlers, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const res = await call('/console/api/feed', { signal, headers: { accept: 'text/event-stream' } });
      performance.mark('voicegate:feed-open');
      handlers.status(true);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trimStart())
            .join('\n');
          if (data) {
            performance.mark('voicegate:feed-view');
            handlers.view(JSON.parse(data) as ConsoleView);
          }
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof UnauthorizedError) {
        handlers.unauthorized();
        return;
      }
    }
    if (signal.aborted) return;
    handlers.status(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
