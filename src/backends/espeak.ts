/**
 * Backend `espeak`: the embedded engine. One Backend = one worker thread = one instance of
 * the pool, so routing, load accounting and failover treat it like a GPU server.
 */
import type { BackendAudio } from '../audio/format.ts';
import type { Metrics } from '../metrics.ts';
import { InstanceMetrics } from './instance-metrics.ts';
import { BackendError, type Backend, type SynthesisRequest, type VoiceList } from './backend.ts';
import { deadlineOf } from './http.ts';
import { EspeakError, EspeakWorker, parseEspeakVoices } from './espeak-engine.ts';

export interface EspeakBackendOptions {
  /** Pool name (metrics label). */
  pool: string;
  /** Instance id (metrics label). */
  instance: string;
  /** Voice used when the request's voice is empty. Default `en-us`. */
  defaultVoice?: string;
  /**
   * Audio is yielded in chunks of this many ms so the output path streams. The gateway passes
   * pools[].options.chunk_ms (its default, 200, is declared in config.ts); 200 here too for
   * backends built directly.
   */
  chunkMs?: number;
  /**
   * A synthesis still running this long after its worker took it is given up and the worker
   * thread replaced (EspeakWorkerOptions.deadlineMs). createBackend passes the pool's
   * `timeouts.first_audio_ms`: the whole utterance arrives at once, so it is the first audio.
   * Default 0 = none.
   */
  deadlineMs?: number;
  /** Told each time the worker thread is replaced (logging). */
  onRecycle?: (reason: string) => void;
  metrics?: Metrics;
}

/**
 * Scripts a Latin-script espeak voice cannot read (it would spell "Chinese letter" for each
 * character), with the espeak voice that reads them. Used when most letters of a segment are in
 * one of them and the requested voice is not already of that script.
 */
const SCRIPT_VOICES: readonly { script: RegExp; voice: string; languages: readonly string[] }[] = [
  { script: /\p{Script=Han}/u, voice: 'cmn', languages: ['cmn', 'yue', 'hak', 'zh', 'ja'] },
  { script: /[\p{Script=Hiragana}\p{Script=Katakana}]/u, voice: 'ja', languages: ['ja'] },
  { script: /\p{Script=Hangul}/u, voice: 'ko', languages: ['ko'] },
  { script: /\p{Script=Cyrillic}/u, voice: 'ru', languages: ['ru', 'uk', 'be', 'bg', 'mk', 'sr', 'kk', 'ky', 'tt', 'ba', 'cv', 'nog'] },
  { script: /\p{Script=Greek}/u, voice: 'el', languages: ['el', 'grc'] },
  { script: /\p{Script=Arabic}/u, voice: 'ar', languages: ['ar', 'fa', 'ur', 'sd', 'ug', 'ku'] },
  { script: /\p{Script=Hebrew}/u, voice: 'he', languages: ['he'] },
  { script: /\p{Script=Devanagari}/u, voice: 'hi', languages: ['hi', 'mr', 'ne', 'kok', 'bpy'] },
  { script: /\p{Script=Thai}/u, voice: 'th', languages: ['th'] },
];
const LETTER = /\p{L}/u;

/** The voice for `text`: `voice`, unless most letters are in a script it cannot read. */
export function voiceForScript(text: string, voice: string): string {
  let letters = 0;
  const counts = new Array<number>(SCRIPT_VOICES.length).fill(0);
  for (const ch of text) {
    if (!LETTER.test(ch)) continue;
    letters++;
    for (let i = 0; i < SCRIPT_VOICES.length; i++) {
      if (SCRIPT_VOICES[i]!.script.test(ch)) {
        counts[i]!++;
        break;
      }
    }
  }
  if (letters === 0) return voice;
  const language = voice.split(/[-+_]/, 1)[0]!.toLowerCase();
  for (let i = 0; i < SCRIPT_VOICES.length; i++) {
    const entry = SCRIPT_VOICES[i]!;
    if (counts[i]! * 2 > letters) return entry.languages.includes(language) ? voice : entry.voice;
  }
  return voice;
}

export class EspeakBackend implements Backend {
  readonly protocol = 'espeak';
  private readonly worker: EspeakWorker;
  private readonly chunkMs: number;
  private readonly defaultVoice: string;
  private readonly stats: InstanceMetrics;

  constructor(options: EspeakBackendOptions) {
    this.chunkMs = options.chunkMs ?? 200;
    this.defaultVoice = options.defaultVoice ?? 'en-us';
    this.stats = new InstanceMetrics(options.metrics, options.pool, options.instance);
    this.worker = new EspeakWorker({ deadlineMs: options.deadlineMs, warmupVoice: this.defaultVoice, onRecycle: options.onRecycle });
  }

  /** Resolves once the worker thread is warm, or failed to start (Backend.whenWarm). */
  whenWarm(): Promise<void> {
    return this.worker.whenWarm();
  }

  async *synthesize(req: SynthesisRequest, signal: AbortSignal): AsyncIterable<BackendAudio> {
    const started = performance.now();
    let pcm;
    try {
      pcm = await this.worker.synthesize(req.text, voiceForScript(req.text, req.voice || this.defaultVoice), req.speed ?? 1, signal);
    } catch (err) {
      // A deadline (backends/deadline.ts) aborts with its timeout as the reason: that is what
      // the instance failed at and what its error counter shows, as for the HTTP adapters;
      // the worker itself only saw a cancel.
      const error = (signal.aborted ? deadlineOf(signal.reason) : undefined) ?? toBackendError(err);
      this.stats.error(error);
      throw error;
    }
    const elapsed = (performance.now() - started) / 1000;
    // The whole utterance comes at once: first audio and the end are the same moment.
    this.stats.firstAudio(elapsed);
    this.stats.finished(elapsed, pcm.samples.length / pcm.sampleRate);
    const step = Math.max(1, Math.round((pcm.sampleRate * this.chunkMs) / 1000));
    for (let offset = 0; offset < pcm.samples.length; offset += step) {
      if (signal.aborted) throw new BackendError('aborted', 'synthesis aborted');
      yield { samples: pcm.samples.subarray(offset, offset + step), sampleRate: pcm.sampleRate };
    }
  }

  /** espeak-ng's own voice table; a voice matches case-insensitively, with any `+variant`. */
  async listVoices(_signal: AbortSignal): Promise<VoiceList> {
    let table: string[];
    try {
      table = await this.worker.voiceTable();
    } catch (err) {
      throw toBackendError(err);
    }
    const { names, languages } = parseEspeakVoices(table);
    return { voices: languages, has: (voice) => names.has(voice.split('+')[0]!.toLowerCase()) };
  }

  async check(signal: AbortSignal): Promise<void> {
    try {
      await this.worker.ping(signal);
    } catch (err) {
      throw toBackendError(err);
    }
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}

function toBackendError(err: unknown): BackendError {
  if (err instanceof BackendError) return err;
  if (err instanceof EspeakError) {
    switch (err.code) {
      case 'espeak_aborted':
        return new BackendError('aborted', err.message, undefined, { cause: err });
      case 'espeak_bad_voice':
        return new BackendError('http_4xx', err.message, 400, { cause: err });
      case 'espeak_closed':
        return new BackendError('closed', err.message, undefined, { cause: err });
      case 'espeak_timeout':
        return new BackendError('timeout', err.message, undefined, { cause: err });
      default:
        return new BackendError('protocol', err.message, undefined, { cause: err });
    }
  }
  return new BackendError('protocol', String((err as Error)?.message ?? err), undefined, { cause: err });
}
