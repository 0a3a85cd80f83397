/**
 * Backend `gradio`: a Kokoro Gradio app shaped like the hexgrad Kokoro-TTS Space, through
 * Gradio's simple REST flow (PROTOCOLS.md §3):
 *   1. `POST {prefix}/call/{api_name}` `{"data":[…]}` → `{"event_id"}`
 *   2. `GET {prefix}/call/{api_name}/{event_id}` → SSE (`generating`, `complete`, `error`,
 *      `heartbeat`) until `complete` carries the output list
 *   3. `GET` the audio FileData's url (a WAV file), decoded as it downloads.
 * The prefix is `/gradio_api` on Gradio 5+ and empty on Gradio 4 (`auto` reads `/config`).
 *
 * The app returns each segment's audio as one file, so first audio comes when the whole
 * segment is synthesized (a sentence, as the gateway segments text): that is the protocol's
 * latency, not the adapter's. Gradio runs an accepted job whether anyone listens or not, so a
 * cancel or deadline closes the event stream and also posts `{prefix}/cancel` for the job.
 */
import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { BackendAudio } from '../audio/format.ts';
import { createWavDecoder } from '../audio/wav.ts';
import type { GradioOptions, PoolConfigOf } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { BackendError, type Backend, type SynthesisRequest, type VoiceList } from './backend.ts';
import { CallSignal, HttpInstance, classifyError, discard, healthGet, readText, statusError } from './http.ts';
import { InstanceMetrics } from './instance-metrics.ts';

export interface GradioBackendOptions {
  /** A pool of backend gradio: its options are parsed and defaulted by the config schema. */
  pool: PoolConfigOf<'gradio'>;
  instance: { id: string; url: string };
  metrics?: Metrics;
}

interface SseEvent {
  event: string;
  data: string;
}

/** Incremental `text/event-stream` parser (control plane only: a handful of events per call). */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private readonly decoder = new TextDecoder();
  /**
   * The last chunk ended in CR: a LF starting the next chunk is the rest of that CRLF, not an
   * empty line of its own (which would end an event early).
   */
  private skipLf = false;

  push(bytes: Uint8Array): SseEvent[] {
    this.buffer += this.decoder.decode(bytes, { stream: true });
    if (this.skipLf && this.buffer.startsWith('\n')) this.buffer = this.buffer.slice(1);
    this.skipLf = false;
    const out: SseEvent[] = [];
    let newline: number;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      if (newline === this.buffer.length - 1 && this.buffer[newline] === '\r') this.skipLf = true;
      const line = this.buffer.slice(0, newline);
      const skip = this.buffer.startsWith('\r\n', newline) ? 2 : 1;
      this.buffer = this.buffer.slice(newline + skip);
      if (line === '') {
        if (this.data.length > 0 || this.event) out.push({ event: this.event || 'message', data: this.data.join('\n') });
        this.event = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
    }
    return out;
  }
}

/** The fields of a Gradio app's `/config` the adapter reads. */
interface GradioConfigDoc {
  api_prefix?: unknown;
  dependencies?: Array<{ id?: unknown; api_name?: unknown; inputs?: unknown }>;
  components?: Array<{ id?: unknown; type?: unknown; props?: { choices?: unknown; allow_custom_value?: unknown } }>;
}

/**
 * The voices a Gradio app offers, as its `/config` names them: the endpoint `apiName`'s input
 * in the position of `$voice` in `inputs` is a component (a Dropdown or Radio in the Kokoro
 * Spaces) whose `choices` list `[label, value]` pairs (Gradio 4+; plain values in Gradio 3).
 * The values are what the app accepts. null when the config does not say: no such endpoint,
 * no `$voice` input, a component without choices, or a Dropdown that allows custom values.
 */
export function gradioVoiceChoices(config: unknown, apiName: string, inputs: readonly unknown[]): string[] | null {
  if (!config || typeof config !== 'object') return null;
  const doc = config as GradioConfigDoc;
  const position = inputs.indexOf('$voice');
  if (position < 0 || !Array.isArray(doc.dependencies) || !Array.isArray(doc.components)) return null;
  const dependency = doc.dependencies.find((d) => d?.api_name === apiName);
  const componentId = Array.isArray(dependency?.inputs) ? (dependency.inputs as unknown[])[position] : undefined;
  if (typeof componentId !== 'number') return null;
  const props = doc.components.find((c) => c?.id === componentId)?.props;
  if (!props || !Array.isArray(props.choices) || props.allow_custom_value === true) return null;
  const values = props.choices.map((c: unknown) => (Array.isArray(c) ? c[1] : c)).filter((v): v is string => typeof v === 'string');
  return values.length > 0 ? values : null;
}

interface FileData {
  path?: string;
  url?: string | null;
}

export class GradioBackend implements Backend {
  readonly protocol = 'gradio';
  readonly options: GradioOptions;
  private readonly http: HttpInstance;
  private readonly stats: InstanceMetrics;
  private readonly pool: PoolConfigOf<'gradio'>;
  /** Configured prefix; null = read it from /config. */
  private readonly prefix: string | null;
  private app: { prefix: string; fnIndex: number | null } | null = null;

  constructor({ pool, instance, metrics }: GradioBackendOptions) {
    this.pool = pool;
    this.options = pool.options;
    const headers: Record<string, string> = {};
    if (this.options.hf_token) headers.authorization = `Bearer ${this.options.hf_token}`;
    this.http = new HttpInstance({ url: instance.url, timeouts: pool.timeouts, headers });
    this.stats = new InstanceMetrics(metrics, pool.name, instance.id);
    this.prefix = this.options.api_prefix === 'auto' ? null : this.options.api_prefix.replace(/\/+$/, '');
  }

  /** The positional `data` for one request. */
  inputs(req: SynthesisRequest): unknown[] {
    return this.options.inputs.map((value) => {
      switch (value) {
        case '$text':
          return req.text;
        case '$voice':
          return req.voice || this.pool.voices[0];
        case '$speed':
          return req.speed ?? 1;
        case '$language':
          return req.language ?? this.pool.language;
        case '$instructions':
          return req.instructions ?? '';
        default:
          return value;
      }
    });
  }

  async *synthesize(req: SynthesisRequest, signal: AbortSignal): AsyncIterable<BackendAudio> {
    const call = new CallSignal(signal);
    const started = performance.now();
    let phase: 'request' | 'stream' = 'request';
    let res: Dispatcher.ResponseData | undefined;
    let samples = 0;
    let sampleRate = 24_000;
    let cancelJob: (() => void) | null = null;
    try {
      const app = await this.appInfo(call.signal);
      const prefix = app.prefix;
      const api = encodeURIComponent(this.options.api_name);
      const sessionHash = randomBytes(8).toString('hex');
      // Once Gradio accepts the job it runs it whether or not anyone listens: the POST is
      // finished even when the caller cancels meanwhile (only a deadline aborts it), so that the
      // job can be cancelled.
      const body = JSON.stringify({ data: this.inputs(req), session_hash: sessionHash });
      res = await this.http.request({ method: 'POST', path: `${prefix}/call/${api}`, body }, call.deadlineSignal);
      if (res.statusCode >= 300) throw await statusError(res, `gradio /call/${this.options.api_name}`);
      const eventId = parseEventId(await readText(res.body));
      cancelJob = () => this.cancelJob(prefix, eventId, sessionHash, app.fnIndex);
      if (signal.aborted) throw new BackendError('aborted', 'synthesis cancelled by caller');
      res = await this.http.request({ method: 'GET', path: `${prefix}/call/${api}/${encodeURIComponent(eventId)}`, headers: { accept: 'text/event-stream' } }, call.signal);
      if (res.statusCode >= 300) throw await statusError(res, 'gradio event stream');
      phase = 'stream';
      const output = await this.awaitComplete(res.body);
      cancelJob = null;
      discard(res.body);
      const file = output[this.options.output_index] as FileData | string | null | undefined;
      const fileUrl = typeof file === 'string' ? undefined : (file?.url ?? undefined);
      const filePath = typeof file === 'string' ? file : file?.path;
      if (!fileUrl && !filePath) throw new BackendError('protocol', `gradio output ${this.options.output_index} is not a file: ${JSON.stringify(file)?.slice(0, 200)}`);
      res = await this.http.requestUrl(fileUrl, `${prefix}/file=${filePath}`, call.signal);
      if (res.statusCode >= 300) throw await statusError(res, 'gradio file download');
      const decoder = createWavDecoder();
      let first = true;
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        const out = decoder.push(chunk);
        for (let i = 0; i < out.length; i++) {
          const pcm = out[i]!;
          if (pcm.samples.length === 0) continue;
          if (first) {
            first = false;
            this.stats.firstAudio((performance.now() - started) / 1000);
          }
          samples += pcm.samples.length;
          sampleRate = pcm.sampleRate;
          yield pcm;
        }
      }
      decoder.end();
      if (call.callerAborted) throw new BackendError('aborted', 'synthesis cancelled by caller');
      if (samples === 0) throw new BackendError('protocol', 'gradio file held no audio');
      this.stats.finished((performance.now() - started) / 1000, samples / sampleRate);
    } catch (err) {
      const error = call.toError(err, phase);
      this.stats.error(error);
      // An accepted job still running (cancelled or timed out): free its GPU slot now.
      cancelJob?.();
      throw error;
    } finally {
      call.dispose();
      discard(res?.body);
    }
  }

  /** Best-effort `POST {prefix}/cancel` (Gradio drops the queued or running event). */
  private cancelJob(prefix: string, eventId: string, sessionHash: string, fnIndex: number | null): void {
    const body = JSON.stringify({ event_id: eventId, session_hash: sessionHash, fn_index: fnIndex });
    this.http
      .request({ method: 'POST', path: `${prefix}/cancel`, body }, AbortSignal.timeout(this.pool.timeouts.connect_ms + 1000))
      .then((r) => discard(r.body))
      .catch(() => undefined);
  }

  /** Reads the event stream until `complete` (its output list) or `error`. */
  private async awaitComplete(body: Dispatcher.ResponseData['body']): Promise<unknown[]> {
    const parser = new SseParser();
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      for (const { event, data } of parser.push(chunk)) {
        if (event === 'complete') {
          const parsed = safeJson(data);
          if (!Array.isArray(parsed)) throw new BackendError('protocol', `gradio complete event is not a list: ${data.slice(0, 200)}`);
          return parsed;
        }
        if (event === 'error') {
          // Through Gradio 6.0 the data is null; later a {error,title} object or a string.
          const detail = describeGradioError(safeJson(data));
          throw new BackendError('http_5xx', `gradio app error${detail ? `: ${detail}` : ''}`);
        }
        // generating and heartbeat: the job is alive; nothing to do for a file output.
      }
    }
    throw new BackendError('closed', 'gradio event stream ended without complete');
  }

  /**
   * The API prefix and the endpoint's fn_index (for cancel), from `/config`, kept once read.
   * With an explicit prefix a failing /config is tolerated (cancel then sends fn_index null, and
   * the next call asks /config again).
   */
  private async appInfo(signal: AbortSignal): Promise<{ prefix: string; fnIndex: number | null }> {
    if (this.app) return this.app;
    let config: GradioConfigDoc | null = null;
    try {
      config = await this.readConfig(signal);
    } catch (err) {
      if (this.prefix === null) throw err;
      return { prefix: this.prefix, fnIndex: null };
    }
    const prefix = this.prefix ?? (typeof config!.api_prefix === 'string' ? config!.api_prefix.replace(/\/+$/, '') : '');
    const dependencies = Array.isArray(config!.dependencies) ? config!.dependencies : [];
    const index = dependencies.findIndex((d) => d.api_name === this.options.api_name);
    const fnIndex = index < 0 ? null : typeof dependencies[index]!.id === 'number' ? (dependencies[index]!.id as number) : index;
    this.app = { prefix, fnIndex };
    return this.app;
  }

  /**
   * The voices the app's `/config` names for the endpoint's voice input (gradioVoiceChoices);
   * null when it names none (the app then cannot be asked). Throws BackendError when the app
   * cannot be reached or its /config is not JSON.
   */
  async listVoices(signal: AbortSignal): Promise<VoiceList | null> {
    const voices = gradioVoiceChoices(await this.readConfig(signal), this.options.api_name, this.options.inputs);
    if (voices === null) return null;
    const set = new Set(voices);
    return { voices, has: (voice) => set.has(voice) };
  }

  /** `GET /config` (at the root in every Gradio version), parsed. Throws BackendError. */
  private async readConfig(signal: AbortSignal): Promise<GradioConfigDoc> {
    const res = await this.http.request({ method: 'GET', path: '/config' }, signal).catch((err: unknown) => {
      throw classifyError(err, 'request');
    });
    try {
      if (res.statusCode >= 300) throw await statusError(res, 'gradio /config');
      const doc = safeJson(await readText(res.body, 4 * 1024 * 1024));
      if (!doc || typeof doc !== 'object') throw new BackendError('protocol', 'gradio /config is not JSON');
      return doc as GradioConfigDoc;
    } finally {
      discard(res.body);
    }
  }

  async check(signal: AbortSignal): Promise<void> {
    await healthGet(this.http, this.options.health_path, this.pool.health.timeout_ms, signal);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function parseEventId(text: string): string {
  const doc = safeJson(text) as { event_id?: unknown } | null;
  if (!doc || typeof doc !== 'object' || typeof doc.event_id !== 'string' || !doc.event_id) {
    throw new BackendError('protocol', `gradio /call answered without event_id: ${text.slice(0, 200)}`);
  }
  return doc.event_id;
}

function describeGradioError(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') {
    const o = value as { error?: unknown; title?: unknown };
    return [o.title, o.error].filter((x) => typeof x === 'string' && x).join(': ');
  }
  return String(value);
}
