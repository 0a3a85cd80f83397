import { afterEach, describe, expect, it } from 'vitest';
import { isPcm, type BackendAudio, type EncodedAudio, type Pcm } from '../../audio/format.ts';
import type { FallbackConfig } from '../../config.ts';
import { Metrics } from '../../metrics.ts';
import { startFakeCartesia, type FakeCartesia, type FakeCartesiaOptions } from '../../sim/cartesia.ts';
import { BackendError, type BackendErrorCode } from '../backend.ts';
import { runBackendConformance } from '../common.case.ts';
import { synthesizeWithDeadlines } from '../deadline.ts';
import { cartesiaOutputFormat, createCartesiaBackend, type CartesiaBackend, type CartesiaBackendDeps } from './backend.ts';
import { kindForCartesiaStatus } from './transport.ts';

let fake: FakeCartesia | undefined;
let backend: CartesiaBackend | undefined;

afterEach(async () => {
  await backend?.close();
  await fake?.close();
  backend = undefined;
  fake = undefined;
});

function fallbackConfig(url: string, overrides: Partial<FallbackConfig> = {}): FallbackConfig {
  return {
    backend: 'cartesia',
    url,
    api_key: 'sk-test',
    model: 'sonic-3',
    version: '2025-04-16',
    voice_map: {},
    max_concurrency: 15,
    timeouts: { connect_ms: 500, first_audio_ms: 400, stall_ms: 300 },
    ...overrides,
  };
}

async function setup(
  fakeOptions: FakeCartesiaOptions = {},
  overrides: Partial<FallbackConfig> = {},
  deps: Partial<CartesiaBackendDeps> = {},
): Promise<{ fake: FakeCartesia; backend: CartesiaBackend; metrics: Metrics }> {
  fake = await startFakeCartesia({ apiKey: 'sk-test', ttfaMs: 10, rtf: 0.02, chunkMs: 40, msPerChar: 50, ...fakeOptions });
  const metrics = new Metrics({ defaultMetrics: false });
  backend = createCartesiaBackend(fallbackConfig(fake.url, overrides), { metrics, ...deps });
  return { fake, backend, metrics };
}

async function collect(iterable: AsyncIterable<BackendAudio>): Promise<BackendAudio[]> {
  const out: BackendAudio[] = [];
  for await (const audio of iterable) out.push(audio);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<BackendError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(BackendError);
    return err as BackendError;
  }
  throw new Error('expected a BackendError');
}

async function until(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return metric.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}

async function histogramCount(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const values = ((await metrics.registry.getSingleMetric(name)?.get())?.values ?? []) as { value: number; labels: Record<string, unknown>; metricName?: string }[];
  return values.find((v) => v.metricName === `${name}_count` && Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}

const SENTENCE = 'Hello from the fallback.'; // 24 characters

describe('cartesia helpers', () => {
  it('asks for the client format when Cartesia has it, else pcm_s16le 24 kHz', () => {
    expect(cartesiaOutputFormat({ encoding: 'pcm_mulaw', sampleRate: 8000, frameMs: 20 })).toEqual({ encoding: 'pcm_mulaw', sampleRate: 8000, passthrough: true });
    expect(cartesiaOutputFormat({ encoding: 'pcm_f32le', sampleRate: 44100, frameMs: 0 })).toEqual({ encoding: 'pcm_f32le', sampleRate: 44100, passthrough: true });
    expect(cartesiaOutputFormat(undefined)).toEqual({ encoding: 'pcm_s16le', sampleRate: 24000, passthrough: false });
    expect(cartesiaOutputFormat({ encoding: 'pcm_s16le', sampleRate: 11025 as 8000, frameMs: 20 })).toEqual({ encoding: 'pcm_s16le', sampleRate: 24000, passthrough: false });
  });

  it('maps statuses to error codes', () => {
    const cases: [number | undefined, BackendErrorCode][] = [[429, 'http_429'], [400, 'http_4xx'], [401, 'http_4xx'], [500, 'http_5xx'], [503, 'http_5xx'], [undefined, 'protocol'], [206, 'protocol']];
    for (const [status, kind] of cases) expect(kindForCartesiaStatus(status)).toBe(kind);
  });
});

describe('cartesia backend against the fake', () => {
  it('streams PCM s16le 24 kHz by default, as much as the transcript asks for', async () => {
    const { fake, backend, metrics } = await setup();
    const chunks = await collect(backend.synthesize({ text: SENTENCE, voice: 'af_heart' }, new AbortController().signal));
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.every(isPcm)).toBe(true);
    const pcm = chunks as Pcm[];
    expect(pcm.every((c) => c.sampleRate === 24000)).toBe(true);
    expect(pcm.reduce((n, c) => n + c.samples.length, 0)).toBe(24 * 50 * 24);
    expect(pcm.some((c) => c.samples.some((s) => Math.abs(s) > 3000))).toBe(true);
    expect(fake.requests()[0]).toMatchObject({
      model_id: 'sonic-3',
      transcript: SENTENCE,
      continue: false,
      voice: { mode: 'id', id: 'af_heart' },
      output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 24000 },
    });
    expect(fake.activeContexts()).toBe(0);
    expect(await histogramCount(metrics, 'voicegate_tts_ttfb_seconds', { pool: 'fallback', instance: 'cartesia' })).toBe(1);
    expect(await histogramCount(metrics, 'voicegate_tts_rtf', { pool: 'fallback', instance: 'cartesia' })).toBe(1);
  });

  it.each([
    ['pcm_mulaw', 8000, 1],
    ['pcm_alaw', 8000, 1],
    ['pcm_f32le', 48000, 4],
  ] as const)('passes %s at %i Hz through as EncodedAudio', async (encoding, sampleRate, width) => {
    const { fake, backend } = await setup();
    const chunks = await collect(backend.synthesize({ text: 'Hi there.', voice: 'v', output: { encoding, sampleRate, frameMs: 20 } }, new AbortController().signal));
    expect(chunks.some(isPcm)).toBe(false);
    const encoded = chunks as EncodedAudio[];
    expect(encoded.every((c) => c.encoding === encoding && c.sampleRate === sampleRate && c.bytes.length % width === 0)).toBe(true);
    expect(encoded.reduce((n, c) => n + c.bytes.length, 0)).toBe(((9 * 50 * sampleRate) / 1000) * width);
    expect(fake.requests()[0]).toMatchObject({ output_format: { container: 'raw', encoding, sample_rate: sampleRate } });
  });

  it('yields Pcm at the client rate when the client wants pcm_s16le', async () => {
    const { backend } = await setup();
    const chunks = await collect(backend.synthesize({ text: 'Hi.', voice: 'v', output: { encoding: 'pcm_s16le', sampleRate: 16000, frameMs: 20 } }, new AbortController().signal));
    expect(chunks.every((c) => isPcm(c) && c.sampleRate === 16000)).toBe(true);
  });

  it('sends the voice as given (mapped once, by the session core), language and speed, and the newer voice shape for 2026-08-14', async () => {
    // A voice_map with a default must not map again here: the request already names Cartesia's voice.
    const { fake, backend: first } = await setup({}, { voice_map: { af_heart: 'uuid-heart', default: 'uuid-default' } });
    const signal = new AbortController().signal;
    await collect(first.synthesize({ text: 'One.', voice: 'uuid-heart', language: 'fr-FR', speed: 1.2 }, signal));
    await collect(first.synthesize({ text: 'Two.', voice: 'uuid-other' }, signal));
    expect(fake.requests()[0]).toMatchObject({ voice: { mode: 'id', id: 'uuid-heart' }, language: 'fr', generation_config: { speed: 1.2 } });
    expect(fake.requests()[1]).toMatchObject({ voice: { mode: 'id', id: 'uuid-other' } });
    await first.close();
    const next = createCartesiaBackend(fallbackConfig(fake.url, { version: '2026-08-14' }), { metrics: new Metrics({ defaultMetrics: false }) });
    backend = next;
    await collect(next.synthesize({ text: 'Three.', voice: 'x' }, signal));
    expect(fake.requests()[2].voice).toEqual({ id: 'x' });
  });

  it('multiplexes concurrent segments over one socket with distinct contexts', async () => {
    const { fake, backend } = await setup();
    const signal = new AbortController().signal;
    const results = await Promise.all(['First.', 'Second one.', 'Third, the longest.'].map((text) => collect(backend.synthesize({ text, voice: 'v' }, signal))));
    const lengths = results.map((chunks) => (chunks as Pcm[]).reduce((n, c) => n + c.samples.length, 0));
    expect(lengths).toEqual([6, 11, 19].map((chars) => chars * 50 * 24));
    expect(fake.connectionsTotal()).toBe(1);
    expect(new Set(fake.requests().map((r) => r.context_id)).size).toBe(3);
  });

  it('frees the context at the fake within 50 ms of an abort, and stops the stream', async () => {
    const { fake, backend } = await setup({ rtf: 0.5 });
    const controller = new AbortController();
    const iterator = backend.synthesize({ text: 'A long sentence that will be interrupted by the caller.', voice: 'v' }, controller.signal)[Symbol.asyncIterator]();
    await iterator.next();
    expect(fake.activeContexts()).toBe(1);
    const t0 = performance.now();
    controller.abort();
    await until(() => fake.activeContexts() === 0, 50);
    expect(performance.now() - t0).toBeLessThan(50);
    const err = await failure(iterator.next());
    expect(err.code).toBe('aborted');
    expect(backend.activeContexts).toBe(0);
  });

  it('cancels the context when the consumer stops reading', async () => {
    const { fake, backend } = await setup({ rtf: 0.5 });
    for await (const _chunk of backend.synthesize({ text: 'Another long sentence, cut after one chunk.', voice: 'v' }, new AbortController().signal)) break;
    await until(() => fake.activeContexts() === 0, 50);
  });

  it('refuses an already aborted signal without sending anything', async () => {
    const { fake, backend } = await setup();
    const controller = new AbortController();
    controller.abort();
    const err = await failure(collect(backend.synthesize({ text: 'Hi.', voice: 'v' }, controller.signal)));
    expect(err.code).toBe('aborted');
    expect(fake.contexts()).toBe(0);
  });

  it.each([
    ['current', 500, 'http_5xx'],
    ['legacy', 503, 'http_5xx'],
    ['current', 429, 'http_429'],
    ['legacy', 429, 'http_429'],
    ['current', 400, 'http_4xx'],
    ['legacy', 404, 'http_4xx'],
  ] as const)('maps a %s-shape error %i to %s', async (shape, status, kind) => {
    const { backend, metrics } = await setup({ errorShape: shape, faults: { error_rate: 1, error_status: status } });
    const err = await failure(collect(backend.synthesize({ text: 'Hi.', voice: 'v' }, new AbortController().signal)));
    expect(err.code).toBe(kind);
    expect(err.status).toBe(status);
    expect(err.message).toMatch(/injected error/);
    expect(await counter(metrics, 'voicegate_backend_errors_total', { kind })).toBe(1);
  });

  it('a hung context ends at the first-audio deadline (deadline.ts), is cancelled upstream and counted as a timeout', async () => {
    const deadlines = { first_audio_ms: 150, stall_ms: 300 };
    const { fake, backend, metrics } = await setup({ faults: { hang: true } }, { timeouts: { connect_ms: 500, ...deadlines } });
    const err = await failure(collect(synthesizeWithDeadlines(backend, { text: 'Hi.', voice: 'v' }, new AbortController().signal, deadlines)));
    expect(err.code).toBe('timeout');
    await until(() => fake.activeContexts() === 0, 100);
    expect(await counter(metrics, 'voicegate_backend_errors_total', { kind: 'timeout' })).toBe(1);
  });

  it('a stream stalled after its audio started ends at the stall deadline', async () => {
    const deadlines = { first_audio_ms: 400, stall_ms: 150 };
    const { backend } = await setup({ faults: { stall_ms: 1500 }, faultAfterChunks: 2 }, { timeouts: { connect_ms: 500, ...deadlines } });
    const received: BackendAudio[] = [];
    const err = await failure(
      (async () => {
        for await (const c of synthesizeWithDeadlines(backend, { text: SENTENCE, voice: 'v' }, new AbortController().signal, deadlines)) received.push(c);
      })(),
    );
    expect(err.code).toBe('timeout');
    expect(err.deadline).toBe('stall');
    expect(received).toHaveLength(2);
  });

  it('fails contexts on a dropped socket with closed, then reconnects on the next request', async () => {
    const { fake, backend } = await setup({ faults: { die_mid_stream: true } });
    const signal = new AbortController().signal;
    const errors = await Promise.all([failure(collect(backend.synthesize({ text: SENTENCE, voice: 'v' }, signal))), failure(collect(backend.synthesize({ text: SENTENCE, voice: 'w' }, signal)))]);
    expect(errors.map((e) => e.code)).toEqual(['closed', 'closed']);
    fake.setFaults({ die_mid_stream: false });
    const chunks = await collect(backend.synthesize({ text: 'Back.', voice: 'v' }, signal));
    expect(chunks.length).toBeGreaterThan(0);
    expect(fake.connectionsTotal()).toBe(2);
  });

  it('reconnects lazily after an idle close', async () => {
    const { fake, backend } = await setup({ idleMs: 80 });
    await backend.check(new AbortController().signal);
    expect(backend.connected).toBe(true);
    await until(() => fake.connections() === 0);
    await until(() => !backend.connected);
    const chunks = await collect(backend.synthesize({ text: 'Hi.', voice: 'v' }, new AbortController().signal));
    expect(chunks.length).toBeGreaterThan(0);
    expect(fake.connectionsTotal()).toBe(2);
  });

  it('check() connects once and fails with connect while the fake is down', async () => {
    const { fake, backend } = await setup();
    await backend.check(new AbortController().signal);
    await backend.check(new AbortController().signal);
    expect(fake.connectionsTotal()).toBe(1);
    fake.setFaults({ down: true });
    await fake.settled();
    await until(() => !backend.connected);
    expect((await failure(backend.check(new AbortController().signal))).code).toBe('connect');
    expect((await failure(collect(backend.synthesize({ text: 'Hi.', voice: 'v' }, new AbortController().signal)))).code).toBe('connect');
    fake.setFaults({ down: false });
    await fake.settled();
    await backend.check(new AbortController().signal);
  });

  it('fails the upgrade with http_4xx on a wrong key and works with ?api_key=', async () => {
    const { fake, backend } = await setup({}, { api_key: 'wrong' });
    const err = await failure(backend.check(new AbortController().signal));
    expect(err).toMatchObject({ code: 'http_4xx', status: 401 });
    const viaQuery = createCartesiaBackend(fallbackConfig(fake.url), { metrics: new Metrics({ defaultMetrics: false }), auth: 'query' });
    try {
      await viaQuery.check(new AbortController().signal);
      expect(viaQuery.connected).toBe(true);
    } finally {
      await viaQuery.close();
    }
  });

  it('times out a connect that never completes', async () => {
    const net = await import('node:net');
    // A listener that accepts TCP but never answers the HTTP upgrade.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const b = createCartesiaBackend(fallbackConfig(`ws://127.0.0.1:${port}/tts/websocket`, { timeouts: { connect_ms: 100, first_audio_ms: 400, stall_ms: 300 } }), { metrics: new Metrics({ defaultMetrics: false }) });
    try {
      const t0 = performance.now();
      expect((await failure(b.check(new AbortController().signal))).code).toBe('timeout');
      expect(performance.now() - t0).toBeLessThan(1000);
    } finally {
      await b.close();
      silent.close();
    }
  });

  it('drops a socket that stops answering pings, and reconnects on the next request', async () => {
    const { WebSocketServer } = await import('ws');
    // A server whose sockets never answer pings: a half-open connection seen from our side.
    const mute = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false });
    await new Promise((resolve) => mute.once('listening', resolve));
    let accepted = 0;
    mute.on('connection', () => accepted++);
    const url = `ws://127.0.0.1:${(mute.address() as { port: number }).port}/tts/websocket`;
    const b = createCartesiaBackend(fallbackConfig(url), { metrics: new Metrics({ defaultMetrics: false }), pingIntervalMs: 30 });
    try {
      await b.check(new AbortController().signal);
      expect(b.connected).toBe(true);
      await until(() => !b.connected);
      await b.check(new AbortController().signal);
      expect(b.connected).toBe(true);
      expect(accepted).toBe(2);
    } finally {
      await b.close();
      mute.close();
    }
  });

  it('refuses work after close()', async () => {
    const { backend } = await setup();
    await backend.check(new AbortController().signal);
    await backend.close();
    expect((await failure(collect(backend.synthesize({ text: 'Hi.', voice: 'v' }, new AbortController().signal)))).code).toBe('closed');
  });
});

// The shared suite every backend runs against a fake speaking its protocol.
runBackendConformance(
  'cartesia',
  async () => {
    // Paced so the conformance text (~3.7 s of audio) takes ~400 ms to produce.
    const f = await startFakeCartesia({ apiKey: 'sk-test', ttfaMs: 20, rtf: 0.1, chunkMs: 40, msPerChar: 50 });
    const metrics = new Metrics({ defaultMetrics: false });
    const b = createCartesiaBackend(fallbackConfig(f.url, { timeouts: { connect_ms: 500, first_audio_ms: 400, stall_ms: 300 } }), { metrics });
    return {
      backend: b,
      metrics,
      labels: { pool: 'fallback', instance: 'cartesia' },
      activeStreams: () => f.activeContexts(),
      async setFaults(patch) {
        f.setFaults(patch);
        await f.settled();
        // A listener going down also drops our socket; let the backend notice before the next request.
        if (patch.down) await until(() => !b.connected);
      },
      async close() {
        await b.close();
        await f.close();
      },
    };
  },
  { timeouts: { first_audio_ms: 400, stall_ms: 300 } },
);
