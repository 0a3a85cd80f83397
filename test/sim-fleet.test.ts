/** The simulator as operators drive it: fleet, control endpoint, latency model, audio sources. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWav } from '../src/audio/wav.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { slowdownFactor, DEFAULT_LATENCY } from '../src/sim/latency.ts';
import { espeakSource, textDurationMs } from '../src/sim/audio.ts';

async function speak(url: string, body: Record<string, unknown>): Promise<{ status: number; ms: number; firstMs: number; bytes: number; type: string }> {
  const started = performance.now();
  const res = await fetch(`${url}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'kokoro', voice: 'af_heart', response_format: 'pcm', ...body }) });
  let firstMs = -1;
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (firstMs < 0) firstMs = performance.now() - started;
    bytes += chunk.length;
  }
  return { status: res.status, ms: performance.now() - started, firstMs, bytes, type: res.headers.get('content-type') ?? '' };
}

type Listing = { instances: Array<{ id: string; active_streams: number; requests: number; up: boolean }> };

/**
 * Opens `count` requests that the instance holds until they are cancelled (the `hang` fault,
 * taken when each request is admitted): a stream is active exactly as long as the test says,
 * however loaded the machine (a fixed sleep and a short stream raced each other before).
 */
function heldStreams(url: string, count: number): { cancel(): Promise<void> } {
  const abort = new AbortController();
  const pending = Array.from({ length: count }, () =>
    fetch(`${url}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'kokoro', voice: 'af_heart', response_format: 'pcm', input: 'Held.' }), signal: abort.signal }).catch(() => undefined),
  );
  return {
    async cancel() {
      abort.abort();
      await Promise.all(pending);
    },
  };
}

describe('sim fleet and control endpoint', () => {
  let fleet: SimFleet;
  beforeAll(async () => {
    fleet = await startSimFleet({ count: 2, protocol: 'openai', latency: { first_audio_ms: 30, rtf: 0.05, chunk_ms: 100, max: 2, comfortable: 1 } });
  });
  afterAll(() => fleet.close());

  it('lists instances with active streams and request counts', async () => {
    const list = async () => (await (await fetch(`${fleet.controlUrl}/control/instances`)).json()) as Listing;
    await fleet.instances[0]!.setFaults({ hang: true });
    const held = heldStreams(fleet.instances[0]!.url, 1);
    try {
      // Until the request has arrived, however long that takes on a loaded machine.
      await expect.poll(async () => (await list()).instances[0]!.requests, { timeout: 5000, interval: 10 }).toBe(1);
      const listing = await list();
      expect(listing.instances.map((i) => i.id)).toEqual(['sim-1', 'sim-2']);
      expect(listing.instances[0]).toMatchObject({ active_streams: 1, requests: 1, up: true });
      expect(listing.instances[1]).toMatchObject({ active_streams: 0, requests: 0 });
    } finally {
      await fleet.instances[0]!.setFaults({ hang: false });
      await held.cancel();
    }
    // A cancelled stream frees its slot.
    await expect.poll(async () => (await list()).instances[0]!.active_streams, { timeout: 5000, interval: 10 }).toBe(0);
    expect((await speak(fleet.instances[0]!.url, { input: 'Hello.' })).status).toBe(200);
  });

  it('sets faults at run time (error_rate, then down and back up)', async () => {
    const url = fleet.instances[1]!.url;
    let res = await fetch(`${fleet.controlUrl}/control/instances/sim-2/faults`, { method: 'POST', body: JSON.stringify({ error_rate: 1, error_status: 503 }) });
    expect(res.status).toBe(200);
    expect((await speak(url, { input: 'Hi.' })).status).toBe(503);
    await fetch(`${fleet.controlUrl}/control/instances/sim-2/faults`, { method: 'POST', body: JSON.stringify({ error_rate: 0, down: true }) });
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    res = await fetch(`${fleet.controlUrl}/control/instances/sim-2/start`, { method: 'POST' });
    expect(((await res.json()) as { up: boolean }).up).toBe(true);
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });

  it('rejects malformed fault patches', async () => {
    const res = await fetch(`${fleet.controlUrl}/control/instances/sim-1/faults`, { method: 'POST', body: JSON.stringify({ error_rate: 2 }) });
    expect(res.status).toBe(400);
    const unknown = await fetch(`${fleet.controlUrl}/control/instances/sim-1/faults`, { method: 'POST', body: JSON.stringify({ explode: true }) });
    expect(unknown.status).toBe(400);
    expect((await fetch(`${fleet.controlUrl}/control/instances/nope/faults`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('refuses streams beyond max with over_capacity_status', async () => {
    const url = fleet.instances[0]!.url;
    await fleet.instances[0]!.setFaults({ hang: true });
    const held = heldStreams(url, 2);
    try {
      await expect.poll(() => fleet.instances[0]!.activeStreams(), { timeout: 5000, interval: 10 }).toBe(2);
      expect((await speak(url, { input: 'One too many.' })).status).toBe(503);
    } finally {
      await fleet.instances[0]!.setFaults({ hang: false });
      await held.cancel();
    }
    await expect.poll(() => fleet.instances[0]!.activeStreams(), { timeout: 5000, interval: 10 }).toBe(0);
    expect((await speak(url, { input: 'Room again.' })).status).toBe(200);
  });
});

describe('latency model', () => {
  it('slows every stream beyond the comfortable count', () => {
    const model = { ...DEFAULT_LATENCY, comfortable: 2, slowdown: 0.5 };
    expect(slowdownFactor(model, 1)).toBe(1);
    expect(slowdownFactor(model, 2)).toBe(1);
    expect(slowdownFactor(model, 4)).toBe(2);
  });

  it('first audio and pace follow the model, and concurrency beyond comfortable slows streams', async () => {
    const fleet = await startSimFleet({ count: 1, controlPort: null, latency: { first_audio_ms: 120, rtf: 0.1, chunk_ms: 100, comfortable: 1, slowdown: 1, max: 8 } });
    try {
      const url = fleet.instances[0]!.url;
      const text = 'x'.repeat(43); // 3.01 s of audio → 31 chunks → ≈ 0.12 + 3.0 × 0.1 s alone
      const alone = await speak(url, { input: text });
      expect(alone.firstMs).toBeGreaterThanOrEqual(110);
      expect(alone.bytes).toBe(Math.round((24000 * textDurationMs(text)) / 1000) * 2);
      const together = await Promise.all([speak(url, { input: text }), speak(url, { input: text }), speak(url, { input: text })]);
      // Three streams with comfortable 1 and slowdown 1: each wait ×3.
      for (const r of together) expect(r.ms).toBeGreaterThan(alone.ms * 1.8);
    } finally {
      await fleet.close();
    }
  });
});

describe('ChatTTS-style instance', () => {
  it('without stream: the whole WAV at the end, labelled audio/mpeg as upstream does', async () => {
    const fleet = await startSimFleet({ count: 1, protocol: 'chattts', controlPort: null, latency: { first_audio_ms: 10, rtf: 0.02 } });
    try {
      const res = await fetch(`${fleet.instances[0]!.url}/v1/audio/speech`, { method: 'POST', body: JSON.stringify({ model: 'tts-1', input: 'Hello.', voice: 'default', response_format: 'wav' }) });
      expect(res.headers.get('content-type')).toBe('audio/mpeg');
      expect(decodeWav(new Uint8Array(await res.arrayBuffer())).sampleRate).toBe(24000);
      const health = (await (await fetch(`${fleet.instances[0]!.url}/health`)).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ model_loaded: true });
    } finally {
      await fleet.close();
    }
  });
});

describe('espeak audio source', () => {
  it('speaks real audio at 24 kHz, duration following the text', async () => {
    const source = await espeakSource();
    try {
      const short = await source.synthesize('Hello.', 'af_heart', 1);
      const long = await source.synthesize('Hello there, this is a considerably longer sentence for espeak.', 'af_heart', 1);
      expect(short.sampleRate).toBe(24000);
      expect(long.samples.length).toBeGreaterThan(short.samples.length * 3);
      let peak = 0;
      for (const s of long.samples) peak = Math.max(peak, Math.abs(s));
      expect(peak).toBeGreaterThan(1000);
    } finally {
      await source.close();
    }
  });
});
