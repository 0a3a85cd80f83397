/**
 * API key checks: `Authorization: Bearer <key>` or `?api_key=<key>` (telephony bridges often
 * cannot set headers). Keys are compared in constant time and never logged.
 * The drop-in front ends (Cartesia, ElevenLabs, Deepgram) find the key where their clients put
 * it and check it with the same matcher.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestInfo } from './engine.ts';

export type Authorizer = (req: RequestInfo) => boolean;

/** Whether a presented key is one of auth.api_keys (always true when none are configured). */
export type KeyMatcher = (presented: string | undefined) => boolean;

// Comparing fixed-length digests keeps the comparison constant-time whatever the key length.
const digest = (value: string) => createHash('sha256').update(value).digest();

export function createKeyMatcher(keys: readonly string[]): KeyMatcher {
  if (keys.length === 0) return () => true;
  const digests = keys.map(digest);
  return (presented) => {
    if (!presented) return false;
    const d = digest(presented);
    let ok = false;
    // Check every key so the time taken does not depend on which one matched.
    for (const k of digests) ok = timingSafeEqual(k, d) || ok;
    return ok;
  };
}

/** The key after a scheme word (`Bearer <key>`, `Token <key>`), else undefined. */
export function schemeCredential(header: string | undefined, scheme: string): string | undefined {
  if (!header || header.length <= scheme.length + 1) return undefined;
  if (header.slice(0, scheme.length + 1).toLowerCase() !== `${scheme.toLowerCase()} `) return undefined;
  return header.slice(scheme.length + 1).trim();
}

export function createAuthorizer(keys: readonly string[]): Authorizer {
  const matches = createKeyMatcher(keys);
  if (keys.length === 0) return () => true;
  return (req) => matches(schemeCredential(req.headers.authorization, 'Bearer') ?? req.query.get('api_key') ?? undefined);
}
