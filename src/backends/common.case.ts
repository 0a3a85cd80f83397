/**
 * The conformance suite every Backend runs against a fake speaking its protocol (DESIGN.md §2:
 * one suite per interface). It checks streaming, plausible audio, cancellation that really
 * frees the upstream slot, the classification of every fault class, and the health probe.
 *
 * Usage (in a *.test.ts):
 *   runBackendConformance('openai pcm', async () => ({ backend, setFaults, activeStreams, close }), { timeouts });
 * Give the fake a latency under which the test text takes at least ~300 ms to produce, so
 * the streaming check can tell streamed audio from audio delivered at the end.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bytesPerSample, isPcm, type BackendAudio } from '../audio/format.ts';
import type { Metrics } from '../metrics.ts';
import { NO_FAULTS, type Faults } from '../sim/faults.ts';
import { BackendError, type Backend, type BackendErrorCode } from './backend.ts';
import { synthesizeWithDeadlines, type Deadlines } from './deadline.ts';

/** How soon a cancel must free the backend's stream: at once, with room for a stalled machine. */
const CANCEL_FREES_WITHIN_MS = 500;

export interface ConformanceHarness {
  backend: Backend;
  /** Sets faults on the fake behind `backend` (may resolve once applied, e.g. `down`). */
  setFaults(p: Partial<Faults>): void | Promise<void>;
  /** Synthesis streams the fake is running now (GPU slots held). */
  activeStreams(): number;
  close(): Promise<void>;
  /** When given, the suite also checks what the backend recorded (labels pool/instance below). */
  metrics?: Metrics;
  labels?: { pool: string; instance: string };
}

export interface ConformanceOptions {
  /**
   * The timeouts the backend was built with. Keep them short (e.g. first_audio 400 ms,
   * stall 300 ms): the hang and stall checks wait for them. Default: the config defaults
   * (1500 / 2000 ms), which make the suite slower.
   */
  timeouts?: { first_audio_ms: number; stall_ms: number };
  /** Voice to request. Default `af_heart`. */
  voice?: string;
  /**
   * Audio arrives while the segment is still being produced. False for protocols that return
   * a whole file per segment (Gradio): the streaming check then does not apply. Default true.
   */
  incremental?: boolean;
}

/** ~5 s of speech at a normal pace (73 characters); long enough that a paced fake spreads it over time. */
export const CONFORMANCE_TEXT = 'Hello there. This is a short test of the voice gateway, spoken in one go.';

interface Collected {
  chunks: number;
  seconds: number;
  firstAt: number;
  endAt: number;
  peak: number;
  sampleRate: number;
}

function audioSeconds(audio: BackendAudio): number {
  if (isPcm(audio)) return audio.samples.length / audio.sampleRate;
  return audio.bytes.length / bytesPerSample(audio.encoding) / audio.sampleRate;
}

async function collect(backend: Backend, voice: string, signal = new AbortController().signal): Promise<Collected> {
  const started = performance.now();
  const out: Collected = { chunks: 0, seconds: 0, firstAt: -1, endAt: 0, peak: 0, sampleRate: 0 };
  for await (const audio of backend.synthesize({ text: CONFORMANCE_TEXT, voice }, signal)) {
    if (out.firstAt < 0) out.firstAt = performance.now() - started;
    out.chunks++;
    out.seconds += audioSeconds(audio);
    out.sampleRate = audio.sampleRate;
    if (isPcm(audio)) {
      const s = audio.samples;
      for (let i = 0; i < s.length; i += 7) {
        const v = s[i] < 0 ? -s[i] : s[i];
        if (v > out.peak) out.peak = v;
      }
    } else out.peak = Math.max(out.peak, 1);
  }
  out.endAt = performance.now() - started;
  return out;
}

/**
 * Runs a synthesis expecting it to fail; returns the error and when it came. It runs under the
 * gateway's one deadline implementation (deadline.ts), as every synthesis does: the adapters
 * under this suite arm no deadlines of their own, so what is checked is that they end and free
 * the slot when it fires.
 */
async function failure(backend: Backend, voice: string, deadlines: Deadlines): Promise<{ error: BackendError; elapsed: number; chunks: number }> {
  const started = performance.now();
  let chunks = 0;
  try {
    for await (const _ of synthesizeWithDeadlines(backend, { text: CONFORMANCE_TEXT, voice }, new AbortController().signal, deadlines)) chunks++;
  } catch (err) {
    expect(err, `expected a BackendError, got ${String(err)}`).toBeInstanceOf(BackendError);
    return { error: err as BackendError, elapsed: performance.now() - started, chunks };
  }
  throw new Error(`synthesis succeeded (${chunks} chunks) where a failure was expected`);
}

async function waitFor(predicate: () => boolean, withinMs: number, stepMs = 2): Promise<number> {
  const started = performance.now();
  while (!predicate()) {
    if (performance.now() - started > withinMs) return -1;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  return performance.now() - started;
}

async function errorCount(metrics: Metrics, labels: { pool: string; instance: string }, kind: BackendErrorCode): Promise<number> {
  const data = await metrics.backendErrors.get();
  return data.values.find((v) => v.labels.kind === kind && v.labels.pool === labels.pool && v.labels.instance === labels.instance)?.value ?? 0;
}

export function runBackendConformance(name: string, setup: () => Promise<ConformanceHarness>, options: ConformanceOptions = {}): void {
  const voice = options.voice ?? 'af_heart';
  const incremental = options.incremental ?? true;
  const { first_audio_ms: firstAudioMs, stall_ms: stallMs } = options.timeouts ?? { first_audio_ms: 1500, stall_ms: 2000 };
  // Timers on a shared 2-core machine: deadlines are checked with this much slack.
  const slack = 400;

  describe(`backend conformance: ${name}`, () => {
    let h: ConformanceHarness;

    beforeAll(async () => {
      h = await setup();
    });
    afterAll(async () => {
      await h?.close();
    });
    afterEach(async () => {
      await h.setFaults({ ...NO_FAULTS });
      // Every call must leave the fake with no stream held.
      expect(await waitFor(() => h.activeStreams() === 0, 1000), 'streams still active after the test').toBeGreaterThanOrEqual(0);
    });

    it('synthesizes plausible audio for the text', async () => {
      const got = await collect(h.backend, voice);
      const chars = CONFORMANCE_TEXT.length;
      expect(got.chunks).toBeGreaterThan(0);
      expect(got.sampleRate).toBeGreaterThanOrEqual(8000);
      expect(got.sampleRate).toBeLessThanOrEqual(48000);
      // Speech runs at roughly 10–25 characters per second; the bounds allow 5–40.
      expect(got.seconds).toBeGreaterThan((chars * 25) / 1000);
      expect(got.seconds).toBeLessThan((chars * 200) / 1000);
      expect(got.peak, 'audio is silent').toBeGreaterThan(500);
      if (h.metrics && h.labels) {
        const ttfb = await h.metrics.ttfb.get();
        const count = ttfb.values.find((v) => v.metricName?.endsWith('_count') && v.labels.instance === h.labels!.instance)?.value ?? 0;
        expect(count, 'tts_ttfb_seconds not recorded').toBeGreaterThan(0);
      }
    });

    if (incremental) {
      it('streams audio as it is produced (first chunk well before the end)', async () => {
        const got = await collect(h.backend, voice);
        expect(got.chunks).toBeGreaterThan(1);
        expect(got.endAt - got.firstAt, `first audio at ${got.firstAt.toFixed(0)} ms, end at ${got.endAt.toFixed(0)} ms`).toBeGreaterThan(got.endAt * 0.3);
      });
    }

    it('cancel before first audio frees the slot at once (well before the stream would end)', async () => {
      const controller = new AbortController();
      const run = collect(h.backend, voice, controller.signal).then(
        () => null,
        (err: unknown) => err,
      );
      expect(await waitFor(() => h.activeStreams() > 0, 2000), 'the fake never saw the stream').toBeGreaterThanOrEqual(0);
      controller.abort();
      // 500 ms, not the ~1 ms it takes: a loaded 2-core machine stalls a process that long (a
      // 50 ms bound failed 1 run in 3 there), and a slot held to the end would take seconds.
      const freedIn = await waitFor(() => h.activeStreams() === 0, CANCEL_FREES_WITHIN_MS, 1);
      expect(freedIn, `slot still held ${CANCEL_FREES_WITHIN_MS} ms after abort`).toBeGreaterThanOrEqual(0);
      const err = await run;
      if (err !== null) {
        expect(err).toBeInstanceOf(BackendError);
        expect((err as BackendError).code).toBe('aborted');
      }
    });

    if (incremental) {
      it('cancel mid-stream frees the slot at once (well before the stream would end)', async () => {
        const controller = new AbortController();
        const iterator = h.backend.synthesize({ text: CONFORMANCE_TEXT, voice }, controller.signal)[Symbol.asyncIterator]();
        const first = await iterator.next();
        expect(first.done).toBe(false);
        expect(h.activeStreams()).toBeGreaterThan(0);
        controller.abort();
        const freedIn = await waitFor(() => h.activeStreams() === 0, CANCEL_FREES_WITHIN_MS, 1);
        expect(freedIn, `slot still held ${CANCEL_FREES_WITHIN_MS} ms after abort`).toBeGreaterThanOrEqual(0);
        await iterator.next().then(
          (r) => expect(r.done).toBe(true),
          (err: unknown) => expect((err as BackendError).code).toBe('aborted'),
        );
      });
    }

    it('error_rate 1 → http_5xx', async () => {
      await h.setFaults({ error_rate: 1, error_status: 500 });
      const before = h.metrics && h.labels ? await errorCount(h.metrics, h.labels, 'http_5xx') : 0;
      const { error } = await failure(h.backend, voice, { first_audio_ms: firstAudioMs, stall_ms: stallMs });
      expect(error.code).toBe('http_5xx');
      expect(error.retryable).toBe(true);
      if (h.metrics && h.labels) expect(await errorCount(h.metrics, h.labels, 'http_5xx')).toBe(before + 1);
    });

    it('error_status 429 → http_429', async () => {
      await h.setFaults({ error_rate: 1, error_status: 429 });
      const { error } = await failure(h.backend, voice, { first_audio_ms: firstAudioMs, stall_ms: stallMs });
      expect(error.code).toBe('http_429');
    });

    it('hang → timeout by first_audio_ms, and the slot is freed', async () => {
      await h.setFaults({ hang: true });
      const before = h.metrics && h.labels ? await errorCount(h.metrics, h.labels, 'timeout') : 0;
      const { error, elapsed, chunks } = await failure(h.backend, voice, { first_audio_ms: firstAudioMs, stall_ms: stallMs });
      expect(error.code).toBe('timeout');
      expect(chunks).toBe(0);
      expect(elapsed).toBeGreaterThanOrEqual(firstAudioMs - 20);
      expect(elapsed).toBeLessThan(firstAudioMs + slack);
      expect(await waitFor(() => h.activeStreams() === 0, 200), 'hung stream not closed').toBeGreaterThanOrEqual(0);
      // The adapter saw the deadline's abort and counts a timeout, not a cancel.
      if (h.metrics && h.labels) expect(await errorCount(h.metrics, h.labels, 'timeout')).toBe(before + 1);
    });

    it('die_mid_stream → closed (or connect)', async () => {
      await h.setFaults({ die_mid_stream: true });
      const { error } = await failure(h.backend, voice, { first_audio_ms: firstAudioMs, stall_ms: stallMs });
      expect(['closed', 'connect']).toContain(error.code);
      expect(error.retryable).toBe(true);
    });

    it('stall mid-stream → timeout by stall_ms', async () => {
      await h.setFaults({ stall_ms: Math.max(3000, stallMs * 6) });
      const { error, elapsed } = await failure(h.backend, voice, { first_audio_ms: firstAudioMs, stall_ms: stallMs });
      expect(error.code).toBe('timeout');
      expect(elapsed).toBeGreaterThanOrEqual(stallMs - 20);
      expect(elapsed).toBeLessThan(firstAudioMs + stallMs + slack + 1000);
    });

    it('down → connect; check() fails when down and passes when up', async () => {
      await h.backend.check(AbortSignal.timeout(2000));
      await h.setFaults({ down: true });
      const { error } = await failure(h.backend, voice, { first_audio_ms: firstAudioMs, stall_ms: stallMs });
      expect(error.code).toBe('connect');
      await expect(h.backend.check(AbortSignal.timeout(2000))).rejects.toBeInstanceOf(BackendError);
      await h.setFaults({ down: false });
      await h.backend.check(AbortSignal.timeout(2000));
      const got = await collect(h.backend, voice);
      expect(got.seconds).toBeGreaterThan(0);
    });
  });
}
