/**
 * Backend `openai`: an OpenAI-compatible `POST /v1/audio/speech` with a streamed body, as
 * served by Kokoro-FastAPI, Qwen3-TTS / IndexTTS behind OpenAI-compatible servers, ChatTTS's
 * `openai_api` example and OpenAI itself (PROTOCOLS.md §2, §4, §5).
 *
 * Audio is decoded as it arrives: raw s16le (`response_format: pcm`) or streamed WAV whose
 * sizes may be 0 or 0xFFFFFFFF (`response_format: wav`).
 */
import type { Dispatcher } from 'undici';
import type { BackendAudio } from '../audio/format.ts';
import { createPcmS16Decoder } from '../audio/pcm-decoder.ts';
import { createWavDecoder } from '../audio/wav.ts';
import type { OpenAIOptions, PoolConfigOf } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { BackendError, type Backend, type SynthesisRequest, type VoiceCloning, type VoiceList } from './backend.ts';
import { CallSignal, HttpInstance, classifyError, discard, healthGet, statusError } from './http.ts';
import { InstanceMetrics } from './instance-metrics.ts';
import { ReferenceVoiceCloning, UploadVoiceCloning, referenceFields } from './voice-upload.ts';

export interface OpenAIBackendOptions {
  /** A pool of backend openai: its options are parsed and defaulted by the config schema. */
  pool: PoolConfigOf<'openai'>;
  instance: { id: string; url: string };
  metrics?: Metrics;
}

const COMPRESSED = /mpeg|mp3|ogg|opus|aac|flac/i;

export class OpenAIBackend implements Backend {
  readonly protocol = 'openai';
  readonly options: OpenAIOptions;
  readonly cloning?: VoiceCloning;
  private readonly http: HttpInstance;
  private readonly stats: InstanceMetrics;
  private readonly pool: PoolConfigOf<'openai'>;

  constructor({ pool, instance, metrics }: OpenAIBackendOptions) {
    this.pool = pool;
    this.options = pool.options;
    const headers: Record<string, string> = { ...this.options.headers };
    if (this.options.api_key) headers.authorization = `Bearer ${this.options.api_key}`;
    this.http = new HttpInstance({ url: instance.url, timeouts: pool.timeouts, headers });
    this.stats = new InstanceMetrics(metrics, pool.name, instance.id);
    if (this.options.voice_cloning === 'upload') this.cloning = new UploadVoiceCloning({ url: instance.url, path: this.options.voices_path, headers });
    else if (this.options.voice_cloning === 'reference') this.cloning = new ReferenceVoiceCloning();
  }

  /** The JSON body for one request (exposed for tests and docs). */
  requestBody(req: SynthesisRequest): string {
    const body: Record<string, unknown> = {
      model: this.pool.model,
      input: req.text,
      voice: req.voice || this.pool.voices[0],
      response_format: this.options.response_format,
      ...this.options.extra_body,
    };
    if (this.options.send_speed && req.speed !== undefined && req.speed !== 1) body.speed = req.speed;
    if (this.options.send_instructions && req.instructions) body.instructions = req.instructions;
    if (req.reference && this.options.voice_cloning === 'reference') {
      // The server holds no voice by this name: the clip itself says who speaks.
      delete body.voice;
      Object.assign(body, referenceFields(req.reference));
    }
    return JSON.stringify(body);
  }

  async *synthesize(req: SynthesisRequest, signal: AbortSignal): AsyncIterable<BackendAudio> {
    const call = new CallSignal(signal);
    const started = performance.now();
    let res: Dispatcher.ResponseData | undefined;
    let phase: 'request' | 'stream' = 'request';
    let samples = 0;
    let sampleRate = this.options.sample_rate;
    try {
      res = await this.http.request({ method: 'POST', path: this.options.path, body: this.requestBody(req) }, call.signal);
      if (res.statusCode >= 300) throw await statusError(res, 'speech request failed');
      phase = 'stream';
      const contentType = String(res.headers['content-type'] ?? '');
      const wav = this.options.response_format === 'wav' || contentType.includes('wav');
      if (!wav && COMPRESSED.test(contentType)) {
        throw new BackendError('protocol', `server sent ${contentType}; configure response_format pcm or wav`);
      }
      const wavDecoder = wav ? createWavDecoder() : null;
      const pcmDecoder = wav ? null : createPcmS16Decoder(this.options.sample_rate);
      let first = true;
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        if (wavDecoder) {
          const out = wavDecoder.push(chunk);
          for (let i = 0; i < out.length; i++) {
            const pcm = out[i]!;
            if (pcm.samples.length === 0) continue;
            if (first) first = this.markFirst(started);
            samples += pcm.samples.length;
            sampleRate = pcm.sampleRate;
            yield pcm;
          }
        } else {
          const pcm = pcmDecoder!.push(chunk);
          if (pcm === null || pcm.samples.length === 0) continue;
          if (first) first = this.markFirst(started);
          samples += pcm.samples.length;
          yield pcm;
        }
      }
      wavDecoder?.end();
      if (call.callerAborted) throw new BackendError('aborted', 'synthesis cancelled by caller');
      if (samples === 0) throw new BackendError('protocol', 'response ended without audio');
      this.stats.finished((performance.now() - started) / 1000, samples / sampleRate);
    } catch (err) {
      const error = call.toError(err, phase);
      this.stats.error(error);
      throw error;
    } finally {
      call.dispose();
      discard(res?.body);
    }
  }

  private markFirst(started: number): false {
    this.stats.firstAudio((performance.now() - started) / 1000);
    return false;
  }

  /**
   * `GET /v1/audio/voices` as Kokoro-FastAPI answers it (`{"voices":[{id,name}]}`, older builds
   * `{"voices":["af_heart",…]}`, OpenAI-style `{"data":[{id}]}`); null where the server has no
   * such route (404/405) or answers something else. Combined Kokoro voices (`a+b(2)`) are
   * checked part by part.
   */
  async listVoices(signal: AbortSignal): Promise<VoiceList | null> {
    let res: Dispatcher.ResponseData | undefined;
    try {
      res = await this.http.request({ method: 'GET', path: this.options.voices_path }, signal);
      if (res.statusCode === 404 || res.statusCode === 405) return null;
      if (res.statusCode >= 300) throw await statusError(res, `GET ${this.options.voices_path}`);
      const body = (await res.body.json()) as { voices?: unknown; data?: unknown };
      const entries = Array.isArray(body?.voices) ? body.voices : Array.isArray(body?.data) ? body.data : null;
      if (entries === null) return null;
      const voices = entries.map((v: unknown) => (typeof v === 'string' ? v : typeof (v as { id?: unknown })?.id === 'string' ? (v as { id: string }).id : null)).filter((v): v is string => v !== null);
      const set = new Set(voices);
      return { voices, has: (voice) => voice.split('+').every((part) => set.has(part.replace(/\(\d+(\.\d+)?\)$/, '').trim())) };
    } catch (err) {
      if (err instanceof BackendError) throw err;
      if (err instanceof SyntaxError) return null;
      throw classifyError(err, 'request');
    } finally {
      discard(res?.body);
    }
  }

  async check(signal: AbortSignal): Promise<void> {
    await healthGet(this.http, this.pool.health.path, this.pool.health.timeout_ms, signal);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
