/**
 * API key checks: `Authorization: Bearer <key>` or `?api_key=<key>` (telephony bridges often
 * cannot set headers). Keys are compared in constant time and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestInfo } from './engine.ts';

export type Authorizer = (req: RequestInfo) => boolean;

// Comparing fixed-length digests keeps the comparison constant-time whatever the key length.
const digest = (value: string) => createHash('sha256').update(value).digest();

export function createAuthorizer(keys: readonly string[]): Authorizer {
  if (keys.length === 0) return () => true;
  const digests = keys.map(digest);
  return (req) => {
    const header = req.headers.authorization;
    let presented: string | undefined;
    if (header && header.toLowerCase().startsWith('bearer ')) presented = header.slice(7).trim();
    else presented = req.query.get('api_key') ?? undefined;
    if (!presented) return false;
    const d = digest(presented);
    let ok = false;
    // Check every key so the time taken does not depend on which one matched.
    for (const k of digests) ok = timingSafeEqual(k, d) || ok;
    return ok;
  };
}
