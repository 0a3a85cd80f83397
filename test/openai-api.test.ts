/**
 * The OpenAI-compatible HTTP API end to end on both transport engines, against the simulator:
 * streamed audio (chunked, SSE), error shapes and status codes, auth (key never logged,
 * constant-time comparison), CORS, request ids, client disconnects freeing GPU slots.
 */
import * as crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeWav } from '../src/audio/wav.ts';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { logCapture } from './helpers/log.ts';
import { rms } from './helpers/stream-client.ts';

// Delegates to the real function; lets a test see that key checks go through it.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof crypto>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const KEY = 'sk-test-0123456789abcdef-secret';
const ORIGIN = 'https://app.example.com';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let fleet: SimFleet;
beforeAll(async () => {
  fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.05, chunk_ms: 100 } });
});
afterAll(() => fleet.close());

function gatewayConfig(engine: 'uws' | 'ws', extra: Record<string, unknown> = {}) {
  return parseConfig({
    server: { host: '127.0.0.1', port: 0, engine },
    auth: { api_keys: [KEY] },
    pools: [
      {
        name: 'kokoro',
        backend: 'openai',
        model: 'kokoro',
        voices: ['af_heart', 'am_adam'],
        instances: [{ id: 'sim-1', url: fleet.instances[0]!.url, max_concurrency: 6 }],
        health: { interval_ms: 60_000 },
        timeouts: { connect_ms: 300, first_audio_ms: 2000, stall_ms: 2000 },
      },
      {
        name: 'dead',
        backend: 'openai',
        model: 'dead-model',
        voices: ['af_heart'],
        // Nothing listens on port 9 (discard) on loopback: connections are refused at once.
        instances: [{ id: 'dead-1', url: 'http://127.0.0.1:9', max_concurrency: 2 }],
        health: { interval_ms: 60_000 },
        timeouts: { connect_ms: 300, first_audio_ms: 1000, stall_ms: 1000 },
      },
    ],
    ...extra,
  });
}

const auth = { authorization: `Bearer ${KEY}` };
const json = { 'content-type': 'application/json' };

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function sentences(n: number): string {
  return Array.from({ length: n }, (_, i) => `This is sentence number ${i + 1} of a longer answer.`).join(' ');
}

describe.each(['uws', 'ws'] as const)('OpenAI HTTP API on %s', (engine) => {
  let gateway: Gateway;
  let base: string;
  const { logger, lines } = logCapture();

  const speech = (body: unknown, headers: Record<string, string> = { ...auth, ...json }, signal?: AbortSignal) =>
    fetch(`${base}/v1/audio/speech`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body), signal });

  beforeAll(async () => {
    gateway = await createGateway({ config: gatewayConfig(engine), logger });
    await gateway.listen();
    expect(gateway.engine).toBe(engine);
    base = `http://127.0.0.1:${gateway.port}`;
  });
  afterAll(() => gateway.close());

  it('pcm: raw 24 kHz s16le, chunked, with a request id', async () => {
    const res = await speech({ model: 'kokoro', input: 'Hello there. How are you today?', voice: 'af_heart', response_format: 'pcm' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/pcm');
    expect(res.headers.get('x-request-id')).toMatch(UUID);
    expect(res.headers.get('content-length')).toBeNull();
    const body = Buffer.from(await res.arrayBuffer());
    // The simulator speaks 70 ms a character, at least 200 ms a segment: "Hello there." + "How are you today?".
    expect(body.length / 2 / 24000).toBeCloseTo((12 * 70 + 18 * 70) / 1000, 1);
    expect(rms(body)).toBeGreaterThan(100);
  });

  it('wav: a streaming header (unknown size) then 24 kHz s16le audio', async () => {
    const res = await speech({ model: 'tts-1', input: 'Hello there.', voice: { id: 'am_adam' }, response_format: 'wav' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(res.headers.get('x-voicegate-pool')).toBe('kokoro');
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(Buffer.from(bytes.subarray(40, 44)).readUInt32LE(0)).toBe(0xffffffff);
    const pcm = decodeWav(bytes);
    expect(pcm.sampleRate).toBe(24000);
    expect(pcm.samples.length / 24000).toBeCloseTo(0.84, 1);
  });

  it('sse: speech.audio.delta events with base64 audio, then speech.audio.done with usage', async () => {
    const input = 'Hello there. Fine, thanks.';
    const res = await speech({ model: 'kokoro', input, voice: 'af_heart', response_format: 'pcm', stream_format: 'sse' });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    const events = text
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => JSON.parse(e.slice(6)) as { type: string; audio?: string; usage?: Record<string, number> });
    expect(events.length).toBeGreaterThan(2);
    expect(events.slice(0, -1).every((e) => e.type === 'speech.audio.delta')).toBe(true);
    const done = events.at(-1)!;
    expect(done.type).toBe('speech.audio.done');
    const audio = Buffer.concat(events.slice(0, -1).map((e) => Buffer.from(e.audio!, 'base64')));
    expect(audio.length / 2 / 24000).toBeCloseTo((12 + 13) * 0.07, 1);
    expect(done.usage).toMatchObject({ input_characters: input.length, input_tokens: 7 });
    expect(done.usage!.total_tokens).toBe(done.usage!.input_tokens! + done.usage!.output_tokens!);
    expect(Math.abs(done.usage!.audio_ms! - (audio.length / 48))).toBeLessThan(5);
  });

  it.each(['pcm', 'mp3', 'opus', 'flac'])('streams %s segment by segment: the first bytes leave before the last sentence is requested', async (format) => {
    const sim = fleet.instances[0]!;
    const before = sim.snapshot().requests;
    let requestsAtFirstByte = -1;
    const t0 = performance.now();
    const res = await speech({ model: 'kokoro', input: sentences(6), voice: 'af_heart', response_format: format });
    const chunks: number[] = [];
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (requestsAtFirstByte < 0) requestsAtFirstByte = sim.snapshot().requests - before;
      if (chunk.length > 0) chunks.push(performance.now() - t0);
    }
    expect(sim.snapshot().requests - before).toBe(6);
    // lookahead 2: at most segments 0 and 1 (maybe 2) were asked for when audio first arrived.
    expect(requestsAtFirstByte).toBeGreaterThan(0);
    expect(requestsAtFirstByte).toBeLessThan(6);
    expect(chunks.at(-1)! - chunks[0]!).toBeGreaterThan(200);
  });

  it('a client that goes away cancels synthesis at once (the GPU slot frees)', async () => {
    const sim = fleet.instances[0]!;
    const controller = new AbortController();
    const res = await speech({ model: 'kokoro', input: sentences(20), voice: 'af_heart', response_format: 'pcm' }, { ...auth, ...json }, controller.signal);
    const reader = res.body!.getReader();
    await reader.read();
    expect(sim.snapshot().active_streams).toBeGreaterThan(0);
    controller.abort();
    await reader.cancel().catch(() => undefined);
    // 20 sentences take seconds to synthesize; aborting frees the simulator well before that.
    await waitFor(() => sim.snapshot().active_streams === 0, 'the simulator stream to end', 1500);
    await waitFor(async () => (await gateway.metrics.sessionsActive.get()).values[0]!.value === 0, 'the session to close', 1500);
    const totals = (await gateway.metrics.sessionsTotal.get()).values;
    expect(totals.find((v) => v.labels.outcome === 'client_error')?.value).toBeGreaterThanOrEqual(1);
  });

  describe('errors in OpenAI shape', () => {
    const errorOf = async (res: Response) => {
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('x-request-id')).toMatch(UUID);
      const body = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
      expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      return body.error;
    };

    it('401 without a key or with a wrong one, on every API route', async () => {
      for (const [path, init] of [
        ['/v1/audio/speech', { method: 'POST', headers: json, body: '{}' }],
        ['/v1/models', {}],
        ['/v1/models/kokoro', {}],
        ['/v1/audio/voices', {}],
      ] as const) {
        const res = await fetch(`${base}${path}`, init);
        expect(res.status, path).toBe(401);
        expect(await errorOf(res)).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
      }
      const wrong = await speech({ model: 'kokoro', input: 'x' }, { authorization: 'Bearer sk-wrong', ...json });
      expect(wrong.status).toBe(401);
    });

    it('400 with the param named', async () => {
      const res = await speech({ model: 'kokoro', input: 'Hello', voice: 'no-such-voice' });
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toMatchObject({ type: 'invalid_request_error', param: 'voice', code: 'unknown_voice' });
      const aac = await speech({ model: 'kokoro', input: 'Hello', response_format: 'aac' });
      expect(aac.status).toBe(400);
      expect(await errorOf(aac)).toMatchObject({ param: 'response_format', code: 'unsupported_response_format' });
      const speed = await speech({ model: 'kokoro', input: 'Hello', speed: 5 });
      expect((await errorOf(speed)).param).toBe('speed');
      const broken = await speech('{"model":');
      expect(broken.status).toBe(400);
      expect((await errorOf(broken)).code).toBe('invalid_json');
    });

    it('404 for an unknown model, 415 for a non-JSON body', async () => {
      const res = await speech({ model: 'nope', input: 'Hello' });
      expect(res.status).toBe(404);
      expect(await errorOf(res)).toMatchObject({ param: 'model', code: 'model_not_found' });
      const form = await speech('model=kokoro&input=hi', { ...auth, 'content-type': 'application/x-www-form-urlencoded' });
      expect(form.status).toBe(415);
      expect((await errorOf(form)).code).toBe('unsupported_media_type');
    });

    it('4096 characters fit the body limit even JSON-escaped; a larger body is 413', async () => {
      // 4097 emoji as \uXXXX escapes: ~49 KB, under max_body_bytes (64 KiB), refused on length.
      const escaped = `{"model":"kokoro","input":"${'\\ud83d\\ude00'.repeat(4097)}"}`;
      const long = await speech(escaped);
      expect(long.status).toBe(400);
      expect((await errorOf(long)).param).toBe('input');
      const huge = await speech({ model: 'kokoro', input: 'x'.repeat(70_000) });
      expect(huge.status).toBe(413);
    });

    it('503 with Retry-After when no provider can speak (refused instance, no fallback)', async () => {
      const res = await speech({ model: 'dead-model', input: 'Hello there.', response_format: 'pcm' });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      const error = await errorOf(res);
      expect(error.type).toBe('server_error');
      expect(['synthesis_failed', 'no_capacity']).toContain(error.code);
    });

    it('echoes a sane incoming x-request-id and replaces others', async () => {
      const sane = await fetch(`${base}/v1/models`, { headers: { ...auth, 'x-request-id': 'req_abc-123' } });
      expect(sane.headers.get('x-request-id')).toBe('req_abc-123');
      const insane = await fetch(`${base}/v1/models`, { headers: { ...auth, 'x-request-id': 'a b<script>' } });
      expect(insane.headers.get('x-request-id')).toMatch(UUID);
    });
  });

  it('lists models and voices', async () => {
    const models = (await (await fetch(`${base}/v1/models`, { headers: auth })).json()) as { object: string; data: { id: string; owned_by: string }[] };
    expect(models.object).toBe('list');
    expect(models.data.map((m) => m.id)).toEqual(['kokoro', 'dead-model']);
    expect(models.data[0]!.owned_by).toBe('voicegate');
    const one = await fetch(`${base}/v1/models/kokoro`, { headers: auth });
    expect(await one.json()).toMatchObject({ id: 'kokoro', object: 'model' });
    expect((await fetch(`${base}/v1/models/nope`, { headers: auth })).status).toBe(404);
    const voices = (await (await fetch(`${base}/v1/audio/voices?model=kokoro`, { headers: auth })).json()) as { data: { id: string }[] };
    expect(voices.data.slice(0, 2).map((v) => v.id)).toEqual(['af_heart', 'am_adam']);
    // Then the OpenAI voice names, each an alias of the pool's default voice.
    expect(voices.data.slice(2)).toContainEqual(expect.objectContaining({ id: 'alloy', alias_of: 'af_heart' }));
    expect(voices.data).toHaveLength(2 + 13);
  });

  it('compares keys in constant time and never logs them', async () => {
    const compare = vi.mocked(crypto.timingSafeEqual);
    compare.mockClear();
    const res = await speech({ model: 'kokoro', input: 'Hi there.', response_format: 'pcm' });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(compare).toHaveBeenCalled();
    await speech({ model: 'kokoro', input: 'x' }, { authorization: `Bearer ${KEY}-almost`, ...json });
    await fetch(`${base}/v1/models?api_key=${KEY}`);
    // The request was logged (so logging is live), the key never.
    await waitFor(() => lines.some((l) => l.includes('"speech request"')), 'a request log line');
    expect(lines.join('\n')).not.toContain(KEY);
  });

  it('no CORS headers by default', async () => {
    const pre = await fetch(`${base}/v1/audio/speech`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const get = await fetch(`${base}/v1/models`, { headers: { ...auth, origin: ORIGIN } });
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });

  describe('with http.cors_origins', () => {
    let cors: Gateway;
    let corsBase: string;
    beforeAll(async () => {
      cors = await createGateway({ config: gatewayConfig(engine, { http: { cors_origins: [ORIGIN] } }) });
      corsBase = `http://127.0.0.1:${await cors.listen()}`;
    });
    afterAll(() => cors.close());

    it('answers preflights for allowed origins only, without a key', async () => {
      const headers = { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' };
      const pre = await fetch(`${corsBase}/v1/audio/speech`, { method: 'OPTIONS', headers });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
      expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
      const other = await fetch(`${corsBase}/v1/audio/speech`, { method: 'OPTIONS', headers: { ...headers, origin: 'https://evil.example.com' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('sets the headers on real responses (errors too) for allowed origins', async () => {
      const ok = await fetch(`${corsBase}/v1/models`, { headers: { ...auth, origin: ORIGIN } });
      expect(ok.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(ok.headers.get('access-control-expose-headers')).toContain('x-request-id');
      const denied = await fetch(`${corsBase}/v1/models`, { headers: { origin: ORIGIN } });
      expect(denied.status).toBe(401);
      expect(denied.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      const evil = await fetch(`${corsBase}/v1/models`, { headers: { ...auth, origin: 'https://evil.example.com' } });
      expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('lets a browser script read every x-voicegate-* header a speech response carries', async () => {
      const res = await fetch(`${corsBase}/v1/audio/speech`, {
        method: 'POST',
        headers: { ...auth, origin: ORIGIN, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'kokoro', input: 'Hello.', voice: 'af_heart', response_format: 'pcm', instructions: 'cheerful' }),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      const exposed = (res.headers.get('access-control-expose-headers') ?? '').split(/,\s*/);
      const sent = [...res.headers.keys()].filter((name) => name.startsWith('x-voicegate-') || name === 'x-request-id');
      expect(sent.length).toBeGreaterThanOrEqual(5);
      expect(exposed).toEqual(expect.arrayContaining(sent));
    });
  });
});

describe.each(['uws', 'ws'] as const)('OpenAI HTTP API during a graceful drain on %s', (engine) => {
  it('a speech response in progress finishes whole; a new request gets 503 shutting_down', async () => {
    // Slow synthesis (RTF 0.5): the response is still streaming when the drain starts.
    const slow = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 50, rtf: 0.5, chunk_ms: 100 } });
    const gw = await createGateway({
      config: parseConfig({
        server: { host: '127.0.0.1', port: 0, engine },
        pools: [{ name: 'kokoro', backend: 'openai', model: 'kokoro', voices: ['af_heart'], instances: [{ id: 'sim-1', url: slow.instances[0]!.url, max_concurrency: 4 }] }],
      }),
    });
    const base = `http://127.0.0.1:${await gw.listen()}`;
    const post = (input: string) =>
      fetch(`${base}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'kokoro', input, voice: 'af_heart', response_format: 'pcm' }) });
    try {
      const res = await post('Hello there. How are you today?');
      expect(res.status).toBe(200);
      const body = res.arrayBuffer();
      const drained = gw.shutdown(10_000);
      const late = await post('Too late.');
      expect(late.status).toBe(503);
      expect(((await late.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
      // Every sentence's audio: 70 ms a character ("Hello there." + "How are you today?").
      expect((await body).byteLength / 2 / 24000).toBeCloseTo((12 * 70 + 18 * 70) / 1000, 1);
      await drained;
    } finally {
      await gw.close();
      await slow.close();
    }
  });
});
