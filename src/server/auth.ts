/**
 * API key checks: `Authorization: Bearer <key>` or `?api_key=<key>` (telephony bridges often
 * cannot set headers). Keys are compared in constant time and never logged.
 * The drop-in front ends (Cartesia, ElevenLabs, Deepgram) find the key where their clients put
 * it and check it with the same matcher.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
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

// Loopback: 127.0.0.0/8 and ::1 (also as IPv4-mapped IPv6, ::ffff:127.x.y.z).
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether a socket's remote address (as either engine reports it) is this machine's loopback. */
export function isLoopbackAddress(address: string): boolean {
  const text = address.trim();
  // BlockList matches IPv4-mapped IPv6 forms (::ffff:127.0.0.1, uWS's 0000:…:ffff:7f00:0001) too.
  switch (isIP(text)) {
    case 4:
      return LOOPBACK.check(text, 'ipv4');
    case 6:
      return LOOPBACK.check(text, 'ipv6');
    default:
      return false;
  }
}

/** Headers a reverse proxy adds: a request carrying any came from elsewhere, whatever its socket says. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;

/**
 * A request made on this machine: loopback socket and no forwarding header. A proxy on the same
 * host (deploy/nginx) connects over loopback for everyone, so forwarded requests never count.
 */
export function isLocalRequest(req: RequestInfo): boolean {
  if (!isLoopbackAddress(req.remoteAddress)) return false;
  for (const name of FORWARDING_HEADERS) if (req.headers[name] !== undefined) return false;
  return true;
}

export interface AdminAuth {
  readonly authorize: Authorizer;
  /** `keys`: an admin key is required; `loopback`: no key configured, only local requests pass. */
  readonly mode: 'keys' | 'loopback';
}

/**
 * Who may call /admin/*: holders of `auth.admin_keys`, else of `auth.api_keys`; with no key
 * configured at all, local requests only (isLocalRequest). Admin is never open by accident.
 * `isLocal` is injectable so the rule is testable without a second host.
 */
export function createAdminAuth(
  adminKeys: readonly string[],
  apiKeys: readonly string[],
  isLocal: (req: RequestInfo) => boolean = isLocalRequest,
): AdminAuth {
  const keys = adminKeys.length > 0 ? adminKeys : apiKeys;
  if (keys.length > 0) return { authorize: createAuthorizer(keys), mode: 'keys' };
  return { authorize: isLocal, mode: 'loopback' };
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
