/**
 * Fidelity: the official `@cartesia/cartesia-js` SDK (4.x) talks to our fake Cartesia and gets
 * audio. Its main WebSocket client (`client.tts.websocket()`) forces the `wss` scheme on the
 * baseURL, so the fake serves TLS with a self-signed certificate made here with `openssl`, and
 * the SDK trusts it through its `ws` options (`ca`). Nothing reaches the network: 127.0.0.1 only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import type CartesiaClient from '@cartesia/cartesia-js';
import { startFakeCartesia, type FakeCartesia } from '../src/sim/cartesia.ts';
import { createCartesiaBackend } from '../src/backends/cartesia/backend.ts';
import { Metrics } from '../src/metrics.ts';
import { isPcm } from '../src/audio/format.ts';

// The SDK's ESM build finds `ws` with a bare `require('ws')`, which does not exist in an ES
// module, and then looks for a global WebSocket (absent on Node 20), so it throws. Its CommonJS
// build loads `ws` fine: that is the build a Node server uses today, so load that one.
const Cartesia = createRequire(import.meta.url)('@cartesia/cartesia-js').default as typeof CartesiaClient;
type Cartesia = CartesiaClient;

const API_KEY = 'sk-sdk-test';
let dir: string;
let cert: string;
let fake: FakeCartesia;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'voicegate-cartesia-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore', timeout: 10_000 });
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  fake = await startFakeCartesia({ tls: { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert }, apiKey: API_KEY, ttfaMs: 10, rtf: 0.02, msPerChar: 50 });
});

afterAll(async () => {
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function client(): Cartesia {
  return new Cartesia({ apiKey: API_KEY, baseURL: `https://127.0.0.1:${fake.port}` });
}

describe('@cartesia/cartesia-js against the fake (wss, self-signed)', () => {
  it('generate(): chunks with decoded audio, then done', async () => {
    expect(fake.url.startsWith('wss://')).toBe(true);
    const ws = await client().tts.websocket({ ca: cert });
    try {
      let bytes = 0;
      const types: string[] = [];
      for await (const event of ws.generate({
        model_id: 'sonic-3',
        transcript: 'Hello from the SDK.',
        voice: { mode: 'id', id: 'a0e99841-438c-4a64-b679-ae501e7d6091' },
        output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 16000 },
      })) {
        types.push(event.type);
        if (event.type === 'chunk') bytes += event.audio!.length;
      }
      expect(types.at(-1)).toBe('done');
      expect(types.filter((t) => t === 'chunk').length).toBeGreaterThan(1);
      // 19 characters × 50 ms at 16 kHz, 2 bytes a sample.
      expect(bytes).toBe(19 * 50 * 16 * 2);
    } finally {
      ws.close();
    }
  });

  it('context(): push, flush, no_more_inputs; flush_done then done, routed per context', async () => {
    const ws = await client().tts.websocket({ ca: cert });
    try {
      const options = {
        model_id: 'sonic-3',
        voice: { mode: 'id' as const, id: 'voice-1' },
        output_format: { container: 'raw' as const, encoding: 'pcm_mulaw' as const, sample_rate: 8000 as const },
        max_buffer_delay_ms: 0,
      };
      const a = ws.context(options);
      const b = ws.context(options);
      await a.push({ transcript: 'First part, ', flush: true });
      await b.push({ transcript: 'Other context.' });
      await b.no_more_inputs();
      await a.push({ transcript: 'second part.' });
      await a.no_more_inputs();
      const drain = async (ctx: typeof a): Promise<{ types: string[]; bytes: number }> => {
        const types: string[] = [];
        let bytes = 0;
        for await (const event of ctx.receive({ timeout: 5000 })) {
          types.push(event.type);
          if (event.type === 'chunk') bytes += event.audio!.length;
        }
        return { types, bytes };
      };
      const [ra, rb] = await Promise.all([drain(a), drain(b)]);
      expect(ra.types).toContain('flush_done');
      expect(ra.types.at(-1)).toBe('done');
      expect(rb.types).not.toContain('flush_done');
      expect(ra.bytes).toBe('First part, second part.'.length * 50 * 8);
      expect(rb.bytes).toBe('Other context.'.length * 50 * 8);
    } finally {
      ws.close();
    }
  });

  it('cancel(): the context stops at the fake', async () => {
    const ws = await client().tts.websocket({ ca: cert });
    try {
      const ctx = ws.context({
        model_id: 'sonic-3',
        voice: { mode: 'id', id: 'voice-1' },
        output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 24000 },
      });
      const before = fake.contexts();
      await ctx.push({ transcript: 'Something to cancel, ' });
      await new Promise((r) => setTimeout(r, 20));
      expect(fake.contexts()).toBe(before + 1);
      await ctx.cancel();
      const deadline = Date.now() + 1000;
      while (fake.activeContexts() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(fake.activeContexts()).toBe(0);
    } finally {
      ws.close();
    }
  });

  it('surfaces a fake error to the SDK: a rejected generate() and an error event with the payload', async () => {
    fake.setFaults({ error_rate: 1, error_status: 500 });
    const ws = await client().tts.websocket({ ca: cert });
    const events: { status_code?: number; title?: string; message?: string }[] = [];
    ws.on('error', (err) => events.push((err.error ?? {}) as (typeof events)[number]));
    try {
      const run = async (): Promise<void> => {
        for await (const _event of ws.generate({
          model_id: 'sonic-3',
          transcript: 'Hi.',
          voice: { mode: 'id', id: 'v' },
          output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 24000 },
        })) {
          /* drain */
        }
      };
      await expect(run()).rejects.toThrow(/injected error 500/);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ status_code: 500, title: 'Injected fault', message: 'injected error 500' });
    } finally {
      fake.setFaults({ error_rate: 0 });
      ws.close();
    }
  });

  it('the voicegate adapter speaks the same wss endpoint', async () => {
    const backend = createCartesiaBackend(
      {
        backend: 'cartesia',
        url: fake.url,
        api_key: API_KEY,
        model: 'sonic-3',
        version: '2025-04-16',
        voice_map: {},
        max_concurrency: 15,
        timeouts: { connect_ms: 2000, first_audio_ms: 1500, stall_ms: 2000 },
      },
      { metrics: new Metrics({ defaultMetrics: false }), wsOptions: { ca: cert } },
    );
    try {
      let samples = 0;
      for await (const audio of backend.synthesize({ text: 'Over TLS.', voice: 'v' }, new AbortController().signal)) {
        expect(isPcm(audio)).toBe(true);
        if (isPcm(audio)) samples += audio.samples.length;
      }
      expect(samples).toBe(9 * 50 * 24);
    } finally {
      await backend.close();
    }
  });
});
