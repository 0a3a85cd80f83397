/**
 * The HTTP sink's contract with the session, with a fake session and response: backpressure
 * (bufferedAmount large until onDrain, then drained()), disconnects (cancel and close), and the
 * error/head rules (5xx only while nothing was sent).
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import type { SessionFactory, SessionRequest } from '../session/factory.ts';
import type { Session, SessionSink } from '../session/session.ts';
import type { HttpRoute, RequestInfo } from './engine.ts';
import { FakeHttpResponse as FakeResponse } from '../../test/helpers/http-response.ts';
import { speechRoutes } from './speech-routes.ts';

interface FakeSession {
  sink: SessionSink;
  request: SessionRequest;
  calls: string[];
}

function setup(options: { keys?: boolean } = {}) {
  const sessions: FakeSession[] = [];
  const factory: SessionFactory = {
    fallback: null,
    live: new Set(),
    queues: new Map(),
    saturated: () => false,
    create(request) {
      const fake: FakeSession = { sink: request.sink, request, calls: [] };
      sessions.push(fake);
      const record = (name: string) => () => void fake.calls.push(name);
      return { pinId: 'sim-1', text: (t: string) => fake.calls.push(`text:${t}`), flush: record('flush'), cancel: record('cancel'), close: record('close'), drained: record('drained') } as unknown as Session;
    },
  };
  const metrics = new Metrics({ defaultMetrics: false });
  const routes = speechRoutes({
    sessions: factory,
    config: { pools: [{ name: 'kokoro', model: 'kokoro', voices: ['af_heart'], voice_aliases: {}, language: 'en' }] as never, http: { cors_origins: [] } },
    authorize: (req) => !options.keys || req.headers.authorization === 'Bearer k',
    metrics,
    logger: silentLogger,
  });
  const speech = routes.find((r) => r.method === 'POST') as HttpRoute;
  const post = (body: unknown) => {
    const res = new FakeResponse();
    const req: RequestInfo = { method: 'POST', path: '/v1/audio/speech', query: new URLSearchParams(), headers: { 'content-type': 'application/json' }, remoteAddress: '127.0.0.1' };
    void speech.handler(req, res, Buffer.from(JSON.stringify(body)));
    return res;
  };
  return { sessions, post, metrics };
}

const audio = (n: number) => new Uint8Array(n).fill(1);

describe('speech route ↔ session', () => {
  it('runs one turn: text, flush, eagerFirst off, 24 kHz s16le, pool from the model', () => {
    const { sessions, post } = setup();
    post({ model: 'kokoro', input: 'Hello there.', response_format: 'pcm', speed: 1.25 });
    expect(sessions).toHaveLength(1);
    const { request, calls } = sessions[0]!;
    expect(calls).toEqual(['text:Hello there.', 'flush']);
    expect(request).toMatchObject({ pool: 'kokoro', voice: 'af_heart', eagerFirst: false, speed: 1.25, format: { encoding: 'pcm_s16le', sampleRate: 24000, frameMs: 0 } });
  });

  it('holds audio back while the response is blocked, and resumes on drain', () => {
    const { sessions, post } = setup();
    const res = post({ model: 'kokoro', input: 'Hi.', response_format: 'pcm' });
    const { sink, calls } = sessions[0]!;
    expect(sink.bufferedAmount()).toBe(0);
    res.writable = false;
    sink.audio(audio(100));
    expect(res.status).toBe(200);
    expect(sink.bufferedAmount()).toBeGreaterThan(1024 * 1024 * 1024);
    expect(res.drainCallbacks).toHaveLength(1);
    sink.audio(audio(100));
    // One drain registration however many writes were refused.
    expect(res.drainCallbacks).toHaveLength(1);
    expect(calls).not.toContain('drained');
    res.writable = true;
    res.drain();
    expect(sink.bufferedAmount()).toBe(0);
    expect(calls).toContain('drained');
    sink.turnEnd();
    expect(res.ended).toBe(true);
    expect(calls.at(-1)).toBe('close');
  });

  it('a client disconnect cancels and closes the session; nothing is written after', async () => {
    const { sessions, post, metrics } = setup();
    const res = post({ model: 'kokoro', input: 'Hi.', response_format: 'pcm' });
    const { sink, calls } = sessions[0]!;
    sink.audio(audio(10));
    expect((await metrics.sessionsActive.get()).values[0]!.value).toBe(1);
    res.abort();
    expect(calls.slice(-2)).toEqual(['cancel', 'close']);
    const written = res.chunks.length;
    sink.audio(audio(10));
    sink.turnEnd();
    expect(res.chunks.length).toBe(written);
    expect((await metrics.sessionsActive.get()).values[0]!.value).toBe(0);
  });

  it('a segment failure before any audio answers 503 in OpenAI shape and cancels the rest', () => {
    const { sessions, post } = setup();
    const res = post({ model: 'kokoro', input: 'One. Two.', response_format: 'wav' });
    const { sink, calls } = sessions[0]!;
    sink.error('synthesis_failed', 'segment 0 could not be synthesized: connect refused');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(JSON.parse(res.body())).toMatchObject({ error: { type: 'server_error', code: 'synthesis_failed', param: null } });
    expect(calls).toContain('cancel');
    expect(calls.at(-1)).toBe('close');
  });

  it('a failure after audio left cuts the response off: never a 200 that looks whole', () => {
    const { sessions, post } = setup();
    const res = post({ model: 'kokoro', input: 'One. Two.', response_format: 'pcm', stream_format: 'sse' });
    const { sink, calls } = sessions[0]!;
    sink.audio(audio(4));
    sink.segmentEnd(0, 250);
    sink.error('synthesis_failed', 'segment 1 failed');
    sink.turnEnd();
    expect(res.status).toBe(200);
    expect(res.destroyed).toBe(true);
    const events = res.body().split('\n\n').filter(Boolean).map((e) => JSON.parse(e.slice(6)) as { type: string });
    // No speech.audio.done: the stream ends short of its close, as a cut connection does.
    expect(events.map((e) => e.type)).toEqual(['speech.audio.delta']);
    expect(calls).toContain('cancel');
  });

  it('wav: the header goes out with the first audio; empty turns still get a valid header', () => {
    const { sessions, post } = setup();
    const res = post({ model: 'kokoro', input: 'Hi.', response_format: 'wav' });
    sessions[0]!.sink.audio(audio(6));
    const first = res.chunks[0] as Uint8Array;
    expect(Buffer.from(first.subarray(0, 4)).toString()).toBe('RIFF');
    expect(first.length).toBe(44 + 6);
    const empty = post({ model: 'kokoro', input: '🙂', response_format: 'wav' });
    sessions[1]!.sink.turnEnd();
    expect(empty.status).toBe(200);
    expect((empty.chunks[0] as Uint8Array).length).toBe(44);
    expect(empty.ended).toBe(true);
  });

  it('no session is created without a valid key', () => {
    const { sessions, post } = setup({ keys: true });
    const res = post({ model: 'kokoro', input: 'Hi.' });
    expect(res.status).toBe(401);
    expect(sessions).toHaveLength(0);
  });
});
