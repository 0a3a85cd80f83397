/**
 * Cloning a library voice on the Cartesia fallback, once per voice: `POST /voices/clone`
 * (multipart `clip`, `name`, `language`, optional `description`), as the official
 * `@cartesia/cartesia-js` client's `voices.clone()` sends it; the answer's `id` is the
 * Cartesia voice id kept in the voice's metadata.
 */
import { createHash } from 'node:crypto';
import { FormData, request } from 'undici';
import { CARTESIA_VERSION, type FallbackConfig } from '../config.ts';

/** The REST base of a Cartesia WebSocket URL: wss://api.cartesia.ai/tts/websocket → https://api.cartesia.ai. */
export function cartesiaRestBase(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  url.pathname = url.pathname.replace(/\/tts\/websocket\/?$/, '') || '/';
  url.search = '';
  return url.toString().replace(/\/+$/, '');
}

/** Which Cartesia account a clone lives in, without keeping the key: a digest of URL and key. */
export function cartesiaAccount(config: FallbackConfig): string {
  return createHash('sha256').update(`${cartesiaRestBase(config.url)}\n${config.api_key}`).digest('hex').slice(0, 16);
}

/**
 * REST `Cartesia-Version` of a clone request: the version its request is written against (the
 * adapter's, CARTESIA_VERSION; the clone API exists from 2024-06-10 on), or the fallback's own
 * when later.
 */
const CLONE_VERSION = CARTESIA_VERSION;

export interface CartesiaCloneRequest {
  readonly name: string;
  readonly language: string;
  readonly description?: string;
  /** The normalized reference (WAV). */
  readonly wav: Uint8Array;
}

export async function cloneOnCartesia(config: FallbackConfig, clone: CartesiaCloneRequest, signal: AbortSignal): Promise<string> {
  const form = new FormData();
  form.append('clip', new Blob([clone.wav], { type: 'audio/wav' }), 'reference.wav');
  form.append('name', clone.name);
  // Cartesia's languages are two-letter codes.
  form.append('language', clone.language.split(/[-_]/)[0]!.toLowerCase());
  if (clone.description) form.append('description', clone.description);
  const headers: Record<string, string> = { 'cartesia-version': config.version > CLONE_VERSION ? config.version : CLONE_VERSION };
  if (config.api_key) headers.authorization = `Bearer ${config.api_key}`;
  const res = await request(`${cartesiaRestBase(config.url)}/voices/clone`, { method: 'POST', headers, body: form, signal });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`Cartesia voice clone: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
  let id: unknown;
  try {
    id = (JSON.parse(text) as { id?: unknown }).id;
  } catch {
    throw new Error('Cartesia voice clone: the answer is not JSON');
  }
  if (typeof id !== 'string' || id === '') throw new Error('Cartesia voice clone: the answer has no voice id');
  return id;
}
