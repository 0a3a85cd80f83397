/**
 * The embedded espeak-ng engine: WASM in worker threads so synthesis never blocks the event
 * loop. The WASM module is compiled once per process and shared by every worker; each worker
 * keeps one instance warm (see espeak-worker.js for how main() is re-run safely).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Pcm } from '../audio/format.ts';
import { VoicegateError, type EspeakErrorCode } from '../errors.ts';
import { raceAbort } from './backend.ts';

const require = createRequire(import.meta.url);

/** espeak-ng's default speaking rate in words per minute; `speed` 1.0 maps to it. */
export const ESPEAK_BASE_WPM = 175;
/** espeak-ng's output rate. */
export const ESPEAK_SAMPLE_RATE = 22050;

/** Voice names passed to espeak's -v: letters, digits, `-`, `+`, `_` only. */
const VOICE_PATTERN = /^[A-Za-z0-9_+-]{1,40}$/;

export class EspeakError extends VoicegateError<EspeakErrorCode> {}

// @types/node 20 declares the WebAssembly types but not the global value.
type WasmModule = object;
const wasmApi = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } }).WebAssembly;

let compiled: Promise<WasmModule> | undefined;

function compiledModule(): Promise<WasmModule> {
  compiled ??= wasmApi.compile(readFileSync(require.resolve('espeak-ng').replace(/espeak-ng\.js$/, 'espeak-ng.wasm')));
  return compiled;
}

interface WorkerReply {
  id?: number;
  type?: string;
  ok?: boolean;
  samples?: Int16Array;
  sampleRate?: number;
  error?: string;
  /** Output of `--voices` (a `voices` request). */
  lines?: string[];
}

/** One request (a synthesis or the voice table), queued in the main thread until the worker takes it. */
interface Job {
  readonly id: number;
  readonly message: Record<string, unknown>;
  /** The worker's answer: audio for `synth`, its voice table for `voices`. */
  readonly resolve: (reply: WorkerReply) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export interface EspeakWorkerOptions {
  /**
   * A synthesis still running this long after the worker took it is given up: the worker thread
   * is terminated (a WASM call cannot be interrupted any other way) and a fresh one is started.
   * 0 = no deadline (callers' AbortSignals still apply). Default 0; EspeakBackend passes the
   * pool's `timeouts.first_audio_ms` (the whole utterance is its first audio).
   */
  deadlineMs?: number;
  /** Voice of the throwaway sentence each thread speaks before it counts as warm. Default `en-us`. */
  warmupVoice?: string;
  /** Called each time the thread is replaced (cancelled or overdue synthesis, crash). */
  onRecycle?: (reason: string) => void;
}

/**
 * One worker thread with one warm espeak-ng instance. Requests wait in a queue here, in the main
 * thread, and go to the worker one at a time, so that:
 * - a request cancelled while queued is simply removed;
 * - a request cancelled or overdue while running ends its thread (terminate) and a fresh thread
 *   starts warm in the background: the slot and the CPU are really free, not busy with audio
 *   nobody will hear;
 * - a health probe (check()) never waits behind a synthesis.
 */
export class EspeakWorker {
  private thread: Worker | undefined;
  /** The current thread has answered `ready`. */
  private warm = false;
  /** A thread has been warm once (a respawn is then a short blip, not a cold start). */
  private everWarm = false;
  private startError: Error | undefined;
  private warmed: Promise<void>;
  private markWarm!: () => void;
  private readonly queue: Job[] = [];
  private running: Job | undefined;
  private readonly pings = new Map<number, () => void>();
  private nextId = 1;
  private closed = false;
  private readonly deadlineMs: number;
  private readonly onRecycle: (reason: string) => void;
  private readonly warmupVoice: string;

  constructor(options: EspeakWorkerOptions = {}) {
    this.deadlineMs = options.deadlineMs ?? 0;
    this.warmupVoice = VOICE_PATTERN.test(options.warmupVoice ?? '') ? options.warmupVoice! : 'en-us';
    this.onRecycle = options.onRecycle ?? (() => {});
    this.warmed = this.newWarmPromise();
    this.spawn();
  }

  /** Requests queued or running in this worker. */
  get queued(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  /**
   * Resolves once the first thread is warm (compiled, instantiated, first synthesis done), or
   * has failed to start (then ping() rejects with why).
   */
  async whenWarm(): Promise<void> {
    await this.warmed;
  }

  private newWarmPromise(): Promise<void> {
    const promise = new Promise<void>((resolve) => (this.markWarm = resolve));
    return promise;
  }

  private spawn(): void {
    this.warm = false;
    this.startError = undefined;
    compiledModule().then(
      (module) => {
        if (this.closed) return;
        const thread = new Worker(new URL('./espeak-worker.js', import.meta.url), {
          // A replacement thread (after a cancelled or overdue synthesis) has callers waiting:
          // one warm-up sentence loads the voice; until one thread has been warm, each takes three.
          workerData: { module, warmupVoice: this.warmupVoice, warmupRounds: this.everWarm ? 1 : 3 },
        });
        this.thread = thread;
        thread.unref();
        thread.on('message', (msg: WorkerReply) => {
          if (thread === this.thread) this.onReply(msg);
        });
        thread.on('error', (err) => {
          if (thread === this.thread) this.onThreadDied(new EspeakError('espeak_failed', `espeak worker crashed: ${err.message}`));
        });
        thread.on('exit', () => {
          if (thread === this.thread) this.onThreadDied(new EspeakError('espeak_closed', 'espeak worker exited'));
        });
      },
      (err: Error) => this.onThreadDied(new EspeakError('espeak_failed', `espeak could not start: ${err.message}`)),
    );
  }

  private onThreadDied(err: EspeakError): void {
    if (this.closed) return;
    this.thread = undefined;
    const running = this.running;
    this.running = undefined;
    if (running) this.settle(running, err);
    if (!this.everWarm || !this.warm) {
      // It never came up: fail what waits, report it to probes, retry on the next request
      // (not at once: a thread that cannot start would otherwise be restarted in a loop).
      this.startError = err;
      this.markWarm(); // whenWarm() settles; check() reports the failure
      for (const job of this.queue.splice(0)) this.settle(job, err);
      return;
    }
    this.onRecycle(err.message);
    this.spawn();
  }

  private onReply(msg: WorkerReply): void {
    if (msg.type === 'ready') {
      this.warm = true;
      this.everWarm = true;
      this.markWarm();
      this.pump();
      return;
    }
    if (msg.id === undefined) return;
    const ping = this.pings.get(msg.id);
    if (ping) {
      this.pings.delete(msg.id);
      ping();
      return;
    }
    const job = this.running;
    if (!job || job.id !== msg.id) return;
    this.running = undefined;
    if (msg.ok) this.settle(job, null, msg);
    else this.settle(job, new EspeakError('espeak_failed', msg.error ?? 'espeak failed'));
    this.pump();
  }

  /** Hands the next queued job to the thread when it is warm and free. */
  private pump(): void {
    if (!this.warm || this.running || !this.thread) return;
    const job = this.queue.shift();
    if (!job) return;
    this.running = job;
    if (this.deadlineMs > 0) {
      job.timer = setTimeout(() => {
        if (this.running !== job) return;
        this.recycle(job, new EspeakError('espeak_timeout', `synthesis still running after ${this.deadlineMs} ms: worker restarted`));
      }, this.deadlineMs);
      job.timer.unref?.();
    }
    this.thread.postMessage({ ...job.message, id: job.id });
  }

  /** Ends the running job with `err`, terminates its thread and starts a fresh one. */
  private recycle(job: Job, err: EspeakError): void {
    this.running = undefined;
    this.settle(job, err);
    const thread = this.thread;
    this.thread = undefined;
    void thread?.terminate();
    this.failPings();
    this.onRecycle(err.message);
    this.spawn();
  }

  private settle(job: Job, err: Error | null, reply?: WorkerReply): void {
    if (job.timer) clearTimeout(job.timer);
    job.signal?.removeEventListener('abort', job.onAbort);
    if (err) job.reject(err);
    else job.resolve(reply!);
  }

  private failPings(): void {
    // A ping sent to a thread that is gone will never be answered; probes treat a
    // recycling worker as healthy (see check()), so answer them now.
    for (const done of this.pings.values()) done();
    this.pings.clear();
  }

  private enqueue(message: Record<string, unknown>, signal?: AbortSignal): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(new EspeakError('espeak_closed', 'espeak worker is closed'));
    if (signal?.aborted) return Promise.reject(espeakAborted());
    if (this.startError && !this.thread) this.spawn(); // a failed start is retried on demand
    return new Promise<WorkerReply>((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        message,
        resolve,
        reject,
        signal,
        timer: undefined,
        onAbort: () => {
          if (this.running === job) this.recycle(job, espeakAborted());
          else {
            const at = this.queue.indexOf(job);
            if (at >= 0) this.queue.splice(at, 1);
            this.settle(job, espeakAborted());
          }
        },
      };
      signal?.addEventListener('abort', job.onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  /**
   * Synthesizes one segment. Aborting `signal` rejects with espeak_aborted at once; when the
   * synthesis was already running its thread is terminated and replaced (see the class).
   */
  async synthesize(text: string, voice: string, speed = 1, signal?: AbortSignal): Promise<Pcm> {
    if (!VOICE_PATTERN.test(voice)) throw new EspeakError('espeak_bad_voice', `invalid espeak voice name: ${JSON.stringify(voice)}`);
    const wpm = Math.round(Math.min(4, Math.max(0.25, speed)) * ESPEAK_BASE_WPM);
    const reply = await this.enqueue({ type: 'synth', text, voice, wpm }, signal);
    return { samples: reply.samples ?? new Int16Array(0), sampleRate: reply.sampleRate ?? ESPEAK_SAMPLE_RATE };
  }

  /** espeak-ng's voice table (`--voices`), one line per voice; queued like a synthesis. */
  async voiceTable(signal?: AbortSignal): Promise<string[]> {
    return (await this.enqueue({ type: 'voices' }, signal)).lines ?? [];
  }

  /**
   * Health probe; never queued behind a synthesis. Cold start: resolves once warm. Idle and
   * warm: a real round trip to the thread. Busy: healthy, since the running synthesis is
   * bounded by its deadline or cancellation. Replacing a thread: healthy (requests wait for it).
   */
  async ping(signal?: AbortSignal): Promise<void> {
    if (this.closed) throw new EspeakError('espeak_closed', 'espeak worker is closed');
    if (this.startError && !this.thread) throw this.startError;
    if (!this.everWarm) {
      await (signal ? raceAbort(this.warmed, signal, espeakAborted) : this.warmed);
      if (this.startError) throw this.startError;
      return;
    }
    if (!this.warm || this.running || !this.thread) return;
    const id = this.nextId++;
    const answered = new Promise<void>((resolve) => this.pings.set(id, resolve));
    this.thread.postMessage({ type: 'ping', id });
    try {
      await (signal ? raceAbort(answered, signal, espeakAborted) : answered);
    } finally {
      this.pings.delete(id);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new EspeakError('espeak_closed', 'espeak worker closed');
    const running = this.running;
    this.running = undefined;
    if (running) this.settle(running, err);
    for (const job of this.queue.splice(0)) this.settle(job, err);
    this.failPings();
    const thread = this.thread;
    this.thread = undefined;
    await thread?.terminate();
  }
}

export interface EspeakEngineOptions {
  /** Worker threads, each one warm espeak-ng instance. Default 2 (one per core here). */
  workers?: number;
}

/** A small pool of espeak workers; each request goes to the least busy one. */
export class EspeakEngine {
  private readonly workers: EspeakWorker[];

  constructor(options: EspeakEngineOptions = {}) {
    const count = Math.max(1, options.workers ?? 2);
    this.workers = Array.from({ length: count }, () => new EspeakWorker());
  }

  synthesize(text: string, voice: string, signal?: AbortSignal, speed = 1): Promise<Pcm> {
    let best = this.workers[0]!;
    for (const worker of this.workers) if (worker.queued < best.queued) best = worker;
    return best.synthesize(text, voice, speed, signal);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

function espeakAborted(): EspeakError {
  return new EspeakError('espeak_aborted', 'synthesis aborted');
}

/**
 * The names `-v` accepts, lowercased, from espeak-ng's `--voices` table (columns: Pty,
 * Language, Age/Gender, VoiceName, File, Other Languages): each language code, voice name,
 * file path and file name, and every "other language" it answers to (`en` for en-us).
 */
export function parseEspeakVoices(lines: readonly string[]): { names: Set<string>; languages: string[] } {
  const names = new Set<string>();
  const languages: string[] = [];
  for (const line of lines) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || cols[0] === 'Pty' || !/^\d+$/.test(cols[0]!)) continue;
    const [, language, , name, file] = cols as [string, string, string, string, string];
    languages.push(language);
    for (const n of [language, name, file, file.split('/').pop()!]) names.add(n.toLowerCase());
    for (const m of line.matchAll(/\(([^\s()]+) \d+\)/g)) names.add(m[1]!.toLowerCase());
  }
  return { names, languages };
}
