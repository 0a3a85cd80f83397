import { describe, expect, it } from 'vitest';
import { createCors } from './cors.ts';
import type { RequestInfo } from './engine.ts';

const request = (origin?: string): RequestInfo => ({
  method: 'GET',
  path: '/v1/models',
  query: new URLSearchParams(),
  headers: origin ? { origin } : {},
  remoteAddress: '127.0.0.1',
});

describe('createCors', () => {
  it('sends no CORS header at all by default', () => {
    const cors = createCors({ origins: [] });
    expect(cors.headers(request('https://app.example.com'))).toEqual({});
    expect(cors.preflight(request('https://app.example.com'))).toEqual({});
  });

  it('echoes allowed origins only (case-insensitive, trailing slash in config tolerated)', () => {
    const cors = createCors({ origins: ['https://App.example.com/'] });
    expect(cors.headers(request('https://app.example.com'))).toMatchObject({ 'access-control-allow-origin': 'https://app.example.com', vary: 'Origin' });
    expect(cors.headers(request('https://evil.example.com'))).toEqual({});
    expect(cors.headers(request())).toEqual({});
    const pre = cors.preflight(request('https://app.example.com'));
    expect(pre['access-control-allow-headers']).toContain('authorization');
    expect(pre['access-control-allow-methods']).toContain('POST');
  });

  it('* allows any origin', () => {
    const cors = createCors({ origins: ['*'] });
    expect(cors.headers(request('http://localhost:3000'))['access-control-allow-origin']).toBe('http://localhost:3000');
  });
});
