import { describe, expect, it } from 'vitest';
import { createAdminAuth, createAuthorizer, isLocalRequest, isLoopbackAddress } from './auth.ts';
import type { RequestInfo } from './engine.ts';

function req(remoteAddress: string, headers: Record<string, string> = {}, query = ''): RequestInfo {
  return { method: 'POST', path: '/admin/instances/x/drain', query: new URLSearchParams(query), headers, remoteAddress };
}

describe('isLoopbackAddress', () => {
  it('takes 127.0.0.0/8 and ::1 in every form the engines report', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '0000:0000:0000:0000:0000:0000:0000:0001', '::ffff:127.0.0.1', '0000:0000:0000:0000:0000:ffff:7f00:0001']) {
      expect(isLoopbackAddress(a), a).toBe(true);
    }
  });

  it('refuses every other address, and garbage', () => {
    for (const a of ['192.0.2.2', '10.0.0.1', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'fd00::2', '', 'localhost', '127.0.0.1.evil']) {
      expect(isLoopbackAddress(a), a).toBe(false);
    }
  });
});

describe('isLocalRequest', () => {
  it('a loopback socket without forwarding headers is local', () => {
    expect(isLocalRequest(req('127.0.0.1'))).toBe(true);
  });

  it('a request relayed by a proxy on this host is not local', () => {
    expect(isLocalRequest(req('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }))).toBe(false);
    expect(isLocalRequest(req('127.0.0.1', { 'x-real-ip': '203.0.113.9' }))).toBe(false);
    expect(isLocalRequest(req('::1', { forwarded: 'for=203.0.113.9' }))).toBe(false);
  });

  it('another host is not local', () => {
    expect(isLocalRequest(req('192.0.2.2'))).toBe(false);
  });
});

describe('createAdminAuth', () => {
  it('with no key configured, answers local requests only', () => {
    const auth = createAdminAuth([], []);
    expect(auth.mode).toBe('loopback');
    expect(auth.authorize(req('127.0.0.1'))).toBe(true);
    expect(auth.authorize(req('192.0.2.2'))).toBe(false);
    // A key that happens to be presented opens nothing.
    expect(auth.authorize(req('192.0.2.2', { authorization: 'Bearer anything' }))).toBe(false);
  });

  it('the locality rule is injectable', () => {
    const auth = createAdminAuth([], [], (r) => r.remoteAddress === '192.0.2.2');
    expect(auth.authorize(req('192.0.2.2'))).toBe(true);
    expect(auth.authorize(req('127.0.0.1'))).toBe(false);
  });

  it('falls back to api_keys; admin_keys win when set; loopback alone is then not enough', () => {
    const fallback = createAdminAuth([], ['api']);
    expect(fallback.mode).toBe('keys');
    expect(fallback.authorize(req('127.0.0.1'))).toBe(false);
    expect(fallback.authorize(req('192.0.2.2', { authorization: 'Bearer api' }))).toBe(true);
    const admin = createAdminAuth(['adm'], ['api']);
    expect(admin.authorize(req('192.0.2.2', { authorization: 'Bearer api' }))).toBe(false);
    expect(admin.authorize(req('192.0.2.2', { authorization: 'Bearer adm' }))).toBe(true);
    expect(admin.authorize(req('192.0.2.2', {}, 'api_key=adm'))).toBe(true);
  });
});

describe('createAuthorizer', () => {
  it('is open without keys and checks bearer or api_key with keys', () => {
    expect(createAuthorizer([])(req('192.0.2.2'))).toBe(true);
    const auth = createAuthorizer(['k1', 'k2']);
    expect(auth(req('x', { authorization: 'Bearer k2' }))).toBe(true);
    expect(auth(req('x', { authorization: 'Bearer k3' }))).toBe(false);
    expect(auth(req('x'))).toBe(false);
  });
});
