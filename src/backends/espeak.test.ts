import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.ts';
import { BackendError } from './backend.ts';
import { synthesizeWithDeadlines } from './deadline.ts';
import { EspeakBackend } from './espeak.ts';
import { EspeakError, EspeakWorker } from './espeak-engine.ts';

/** 99,000 digits: one worker busy for seconds (issue 18, finding 1). */
const HUGE_TOKEN = Array.from({ length: 99_000 }, (_, i) => String((i * 7 + 3) % 10)).join('');
const SHORT = 'Hello there.';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

function worker(options: ConstructorParameters<typeof EspeakWorker>[0] = {}): EspeakWorker {
  const w = new EspeakWorker(options);
  opened.push(w);
  return w;
}

async function drainAudio(backend: EspeakBackend, text: string, signal: AbortSignal): Promise<number> {
  let samples = 0;
  for await (const chunk of backend.synthesize({ text, voice: '' }, signal)) if ('samples' in chunk) samples += chunk.samples.length;
  return samples;
}

describe('EspeakBackend', () => {
  it('a request cancelled before it starts fails as aborted, not as a backend error', async () => {
    const backend = new EspeakBackend({ pool: 'p', instance: 'espeak-1' });
    opened.push(backend);
    const controller = new AbortController();
    controller.abort();
    const err = await drainAudio(backend, SHORT, controller.signal).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).code).toBe('aborted');
  });

  it('answers a health probe at once while a huge synthesis runs (probes never queue behind synthesis)', async () => {
    const backend = new EspeakBackend({ pool: 'p', instance: 'espeak-1' });
    opened.push(backend);
    await backend.whenWarm();
    const long = new AbortController();
    const running = drainAudio(backend, HUGE_TOKEN, long.signal).catch(() => 0);
    await new Promise((r) => setTimeout(r, 100)); // the worker is inside the WASM call now
    const started = performance.now();
    await backend.check(AbortSignal.timeout(5000));
    const probeMs = performance.now() - started;
    long.abort();
    await running;
    // The synthesis alone takes ~3 s unloaded; a probe queued behind it would take that long.
    expect(probeMs).toBeLessThan(250);
  });

  it('a synthesis past its deadline fails as a timeout and its thread is replaced', async () => {
    const recycled: string[] = [];
    const backend = new EspeakBackend({ pool: 'p', instance: 'espeak-1', deadlineMs: 300, onRecycle: (r) => recycled.push(r) });
    opened.push(backend);
    await backend.whenWarm();
    const started = performance.now();
    const err = await drainAudio(backend, HUGE_TOKEN, new AbortController().signal).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as BackendError).code).toBe('timeout');
    expect(performance.now() - started).toBeLessThan(1500);
    expect(recycled).toHaveLength(1);
    // The fresh thread speaks.
    expect(await drainAudio(backend, SHORT, new AbortController().signal)).toBeGreaterThan(10_000);
  });
});

describe('EspeakBackend under the deadlines (backends/deadline.ts)', () => {
  it('a first-audio timeout is counted as the instance\'s timeout, not skipped as a cancel', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const backend = new EspeakBackend({ pool: 'p', instance: 'espeak-1', metrics });
    opened.push(backend);
    await backend.whenWarm();
    const run = async () => {
      for await (const _ of synthesizeWithDeadlines(backend, { text: HUGE_TOKEN, voice: '' }, new AbortController().signal, { first_audio_ms: 100, stall_ms: 1000 })) void _;
    };
    await expect(run()).rejects.toMatchObject({ code: 'timeout' });
    const counted = (await metrics.backendErrors.get()).values.filter((v) => v.labels.instance === 'espeak-1');
    expect(counted.map((v) => [v.labels.kind, v.value])).toEqual([['timeout', 1]]);
  });
});

describe('EspeakWorker', () => {
  it('cancelling a long synthesis ends its thread: the next request does not wait for it', async () => {
    const recycled: string[] = [];
    const w = worker({ onRecycle: (r) => recycled.push(r) });
    await w.whenWarm();
    const controller = new AbortController();
    const long = w.synthesize(HUGE_TOKEN, 'en-us', 1, controller.signal);
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    await expect(long).rejects.toMatchObject({ code: 'espeak_aborted' });
    const started = performance.now();
    const pcm = await w.synthesize(SHORT, 'en-us');
    const nextMs = performance.now() - started;
    expect(pcm.samples.length).toBeGreaterThan(10_000);
    expect(recycled).toEqual(['synthesis aborted']);
    expect(w.queued).toBe(0);
    // A fresh warm thread answers well before the abandoned synthesis (≥ 2.9 s unloaded, more
    // under load) could have finished: queued behind it, this took 3.7 s.
    expect(nextMs).toBeLessThan(2500);
  });

  it('cancelling a queued request removes it without touching the running one', async () => {
    const recycled: string[] = [];
    const w = worker({ onRecycle: (r) => recycled.push(r) });
    await w.whenWarm();
    const first = w.synthesize(SHORT, 'en-us');
    const controller = new AbortController();
    const second = w.synthesize(SHORT, 'en-us', 1, controller.signal);
    expect(w.queued).toBe(2);
    controller.abort();
    await expect(second).rejects.toBeInstanceOf(EspeakError);
    expect(w.queued).toBe(1);
    expect((await first).samples.length).toBeGreaterThan(10_000);
    expect(recycled).toEqual([]);
  });

  it('keeps the queue in order across a replaced thread', async () => {
    const w = worker();
    await w.whenWarm();
    const controller = new AbortController();
    const long = w.synthesize(HUGE_TOKEN, 'en-us', 1, controller.signal).catch((e: unknown) => e);
    const after = [w.synthesize('One.', 'en-us'), w.synthesize('Two, three.', 'en-us')];
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    expect(await long).toBeInstanceOf(EspeakError);
    const [one, two] = await Promise.all(after);
    expect(one!.samples.length).toBeGreaterThan(0);
    expect(two!.samples.length).toBeGreaterThan(one!.samples.length);
  });

  it('rejects everything after close', async () => {
    const w = new EspeakWorker();
    await w.whenWarm();
    await w.close();
    await expect(w.synthesize(SHORT, 'en-us')).rejects.toMatchObject({ code: 'espeak_closed' });
    await expect(w.ping()).rejects.toMatchObject({ code: 'espeak_closed' });
  });
});
