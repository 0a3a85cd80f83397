/**
 * A Gradio app shaped like the hexgrad Kokoro-TTS Space (PROTOCOLS.md §3): `/config`, the API
 * schema (`/info`), the simple REST flow (`POST …/call/{api}` → event id → SSE
 * `complete|error|heartbeat`; never `generating`: the audio comes whole) that voicegate's
 * adapter uses, the queue protocol (`queue/join` + `queue/data`, sse_v3) that @gradio/client
 * uses, and FileData downloads (`…/file=/tmp/gradio/…/audio.wav`).
 *
 * `gradio` is Gradio 5 (everything under `/gradio_api`), `gradio4` is Gradio 4 (no prefix).
 * A job runs from the POST on, like Gradio's queue; closing its event stream cancels it.
 * die_mid_stream and stall_ms apply to the WAV download (the app returns audio as a file).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeWav } from '../audio/wav.ts';
import type { Pcm } from '../audio/format.ts';
import { KOKORO_VOICES } from './openai-server.ts';
import { clientGone, readBody, sendJson, type RequestHandler, type SimInstance, type SimStream } from './instance.ts';

export interface GradioSimOptions {
  /** 5 mounts the API under /gradio_api; 4 has no prefix. */
  version: 4 | 5;
  /** Period of `heartbeat` events on idle event streams. Default 15 000 ms (Gradio's). */
  heartbeatMs?: number;
  /** Generated files kept for download (oldest dropped first). Default 256. */
  maxFiles?: number;
}

interface Endpoint {
  fnIndex: number;
  name: string;
  inputs: readonly number[];
  outputs: readonly number[];
  audio: boolean;
}

// Component ids of the simulated Blocks app.
const C = { text: 1, voice: 2, speed: 3, useGpu: 4, audio: 5, tokens: 6, button: 7, predictButton: 8, tokenizeButton: 9 } as const;

const ENDPOINTS: readonly Endpoint[] = [
  { fnIndex: 0, name: 'generate_first', inputs: [C.text, C.voice, C.speed, C.useGpu], outputs: [C.audio, C.tokens], audio: true },
  { fnIndex: 1, name: 'predict', inputs: [C.text, C.voice, C.speed], outputs: [C.audio], audio: true },
  { fnIndex: 2, name: 'tokenize_first', inputs: [C.text, C.voice], outputs: [C.tokens], audio: false },
];

type JobMessage =
  | { kind: 'complete'; data: unknown[] }
  | { kind: 'error'; message: string };

interface Job {
  id: string;
  endpoint: Endpoint;
  session: string | null;
  controller: AbortController;
  result: JobMessage | null;
  listeners: Set<(msg: JobMessage) => void>;
}

interface QueueSession {
  pending: Set<string>;
  buffered: string[];
  send: ((line: string) => void) | null;
}

const FILE_META = { _type: 'gradio.FileData' } as const;

export function createGradioHandler(options: GradioSimOptions): RequestHandler {
  const prefix = options.version === 5 ? '/gradio_api' : '';
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const maxFiles = options.maxFiles ?? 256;
  const jobs = new Map<string, Job>();
  const sessions = new Map<string, QueueSession>();
  const files = new Map<string, Buffer>();

  function root(req: IncomingMessage): string {
    return `http://${req.headers.host ?? '127.0.0.1'}`;
  }

  function fileData(req: IncomingMessage, path: string, size: number): Record<string, unknown> {
    return {
      path,
      url: `${root(req)}${prefix}/file=${path}`,
      size,
      orig_name: 'audio.wav',
      mime_type: null,
      is_stream: false,
      meta: FILE_META,
    };
  }

  function storeFile(wav: Buffer): string {
    const path = `/tmp/gradio/${randomBytes(20).toString('hex')}/audio.wav`;
    files.set(path, wav);
    if (files.size > maxFiles) files.delete(files.keys().next().value!);
    return path;
  }

  function finish(job: Job, msg: JobMessage): void {
    if (job.result) return;
    job.result = msg;
    for (const listener of job.listeners) listener(msg);
    job.listeners.clear();
    // Results stay fetchable for a while (a client may open the stream late), then go.
    setTimeout(() => jobs.delete(job.id), 60_000).unref();
  }

  function newJob(endpoint: Endpoint, session: string | null): Job {
    const job: Job = { id: randomBytes(16).toString('hex'), endpoint, session, controller: new AbortController(), result: null, listeners: new Set() };
    jobs.set(job.id, job);
    return job;
  }

  /** A job whose function raised (error_rate fault): its stream reports `error`. */
  function failedJob(endpoint: Endpoint, session: string | null, slot: SimStream | null): Job {
    slot?.release();
    const job = newJob(endpoint, session);
    finish(job, { kind: 'error', message: 'injected failure' });
    return job;
  }

  /** Starts a job (admission and error faults already decided by the caller). */
  function startJob(req: IncomingMessage, instance: SimInstance, endpoint: Endpoint, data: unknown[], slot: SimStream | null, session: string | null): Job {
    instance.recordReceived({ api_name: endpoint.name, data });
    const job = newJob(endpoint, session);
    const text = typeof data[0] === 'string' ? data[0] : '';
    const voice = typeof data[1] === 'string' ? data[1] : 'af_heart';
    const speed = typeof data[2] === 'number' ? data[2] : 1;
    const run = async (): Promise<void> => {
      if (!endpoint.audio) {
        finish(job, { kind: 'complete', data: [text.toLowerCase()] });
        return;
      }
      if (!(KOKORO_VOICES as readonly string[]).includes(voice)) {
        // Gradio's Dropdown refuses a value outside its choices before the app's function runs.
        finish(job, { kind: 'error', message: `Value: ${voice} is not in the list of choices: [${KOKORO_VOICES.map((v) => `'${v}'`).join(', ')}]` });
        return;
      }
      if (!text.trim()) {
        finish(job, { kind: 'error', message: 'empty text' });
        return;
      }
      const pcm: Promise<Pcm> = instance.render(text, voice, speed, job.controller.signal);
      const outcome = await instance.produce(slot!, pcm, job.controller.signal, null);
      if (outcome !== 'done') return;
      const wav = encodeWav(await pcm);
      const file = fileData(req, storeFile(wav), wav.length);
      finish(job, { kind: 'complete', data: endpoint.outputs.length === 2 ? [file, text.toLowerCase()] : [file] });
    };
    run()
      .catch((err: unknown) => finish(job, { kind: 'error', message: String((err as Error)?.message ?? err) }))
      .finally(() => slot?.release());
    return job;
  }

  function cancel(job: Job): void {
    if (job.result) return;
    job.controller.abort();
    finish(job, { kind: 'error', message: 'cancelled' });
  }

  /** Admission + injected faults, shared by /call and /queue/join. */
  function admit(instance: SimInstance, endpoint: Endpoint): { slot: SimStream | null; status?: number; message?: string; injected?: boolean } {
    if (!endpoint.audio) return { slot: null };
    const slot = instance.admit();
    if (!slot) return { slot: null, status: instance.latency.over_capacity_status, message: 'Queue is full. Please try again later.' };
    if (instance.injectError(slot)) {
      const status = slot.faults.error_status;
      // A failing function shows as an `error` event; 4xx/429/503 are refused up front.
      if (status >= 500 && status !== 503) return { slot, injected: true };
      slot.release();
      return { slot: null, status, message: status === 429 ? 'Too many requests' : 'injected failure' };
    }
    return { slot };
  }

  function findEndpoint(name: string): Endpoint | undefined {
    return ENDPOINTS.find((e) => e.name === name.replace(/^\//, ''));
  }

  async function call(req: IncomingMessage, res: ServerResponse, instance: SimInstance, name: string): Promise<void> {
    const endpoint = findEndpoint(name);
    if (!endpoint) return sendJson(res, 404, { detail: `api_name /${name} not found` });
    let body: { data?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as { data?: unknown };
    } catch {
      return sendJson(res, 422, { detail: 'body is not JSON' });
    }
    if (!Array.isArray(body.data)) return sendJson(res, 422, { detail: [{ type: 'missing', loc: ['body', 'data'], msg: 'Field required' }] });
    const admitted = admit(instance, endpoint);
    if (admitted.status) return sendJson(res, admitted.status, { detail: admitted.message });
    const job = admitted.injected ? failedJob(endpoint, null, admitted.slot) : startJob(req, instance, endpoint, body.data, admitted.slot, null);
    sendJson(res, 200, { event_id: job.id });
  }

  function openSse(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
  }

  function callStream(req: IncomingMessage, res: ServerResponse, eventId: string): void {
    const job = jobs.get(eventId);
    if (!job) return sendJson(res, 404, { detail: 'event not found' });
    openSse(res);
    const heartbeat = setInterval(() => res.write('event: heartbeat\ndata: null\n\n'), heartbeatMs);
    const deliver = (msg: JobMessage): void => {
      clearInterval(heartbeat);
      if (msg.kind === 'complete') res.end(`event: complete\ndata: ${JSON.stringify(msg.data)}\n\n`);
      else res.end(options.version === 5 ? 'event: error\ndata: null\n\n' : `event: error\ndata: ${JSON.stringify(msg.message)}\n\n`);
    };
    if (job.result) return deliver(job.result);
    job.listeners.add(deliver);
    clientGone(req, res).addEventListener('abort', () => {
      clearInterval(heartbeat);
      job.listeners.delete(deliver);
      cancel(job);
    });
  }

  function queueSession(hash: string): QueueSession {
    let session = sessions.get(hash);
    if (!session) {
      session = { pending: new Set(), buffered: [], send: null };
      sessions.set(hash, session);
    }
    return session;
  }

  function queueSend(session: QueueSession, msg: Record<string, unknown>): void {
    const line = `data: ${JSON.stringify(msg)}\n\n`;
    if (session.send) session.send(line);
    else session.buffered.push(line);
  }

  async function queueJoin(req: IncomingMessage, res: ServerResponse, instance: SimInstance): Promise<void> {
    let body: { data?: unknown; fn_index?: unknown; session_hash?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as typeof body;
    } catch {
      return sendJson(res, 422, { detail: 'body is not JSON' });
    }
    if (typeof body.session_hash !== 'string' || !body.session_hash) return sendJson(res, 400, { detail: 'session_hash is required' });
    const endpoint = ENDPOINTS.find((e) => e.fnIndex === body.fn_index);
    if (!endpoint || !Array.isArray(body.data)) return sendJson(res, 422, { detail: 'unknown fn_index or missing data' });
    const admitted = admit(instance, endpoint);
    if (admitted.status) return sendJson(res, admitted.status, { detail: admitted.message });
    const hash = body.session_hash;
    const session = queueSession(hash);
    const job = admitted.injected ? failedJob(endpoint, hash, admitted.slot) : startJob(req, instance, endpoint, body.data, admitted.slot, hash);
    session.pending.add(job.id);
    queueSend(session, { msg: 'estimation', event_id: job.id, rank: 0, queue_size: 1, rank_eta: null });
    queueSend(session, { msg: 'process_starts', event_id: job.id, eta: null, progress_data: null });
    const onResult = (msg: JobMessage): void => {
      session.pending.delete(job.id);
      const output = msg.kind === 'complete' ? { data: msg.data, is_generating: false, duration: 0.1, average_duration: 0.1, render_config: null, changed_state_ids: [] } : { error: msg.message };
      queueSend(session, { msg: 'process_completed', event_id: job.id, output, success: msg.kind === 'complete', title: null });
      if (session.pending.size === 0) queueSend(session, { msg: 'close_stream', event_id: null });
    };
    if (job.result) onResult(job.result);
    else job.listeners.add(onResult);
    sendJson(res, 200, { event_id: job.id });
  }

  function queueData(req: IncomingMessage, res: ServerResponse, hash: string | null): void {
    if (!hash) return sendJson(res, 400, { detail: 'session_hash is required' });
    const session = queueSession(hash);
    openSse(res);
    const heartbeat = setInterval(() => res.write(`data: ${JSON.stringify({ msg: 'heartbeat' })}\n\n`), heartbeatMs);
    const send = (line: string): void => {
      res.write(line);
      if (line.includes('"close_stream"')) {
        clearInterval(heartbeat);
        session.send = null;
        sessions.delete(hash);
        res.end();
      }
    };
    session.send = send;
    for (const line of session.buffered.splice(0)) send(line);
    clientGone(req, res).addEventListener('abort', () => {
      clearInterval(heartbeat);
      if (session.send === send) session.send = null;
      for (const id of session.pending) {
        const job = jobs.get(id);
        if (job) cancel(job);
      }
    });
  }

  async function download(req: IncomingMessage, res: ServerResponse, instance: SimInstance, path: string): Promise<void> {
    const wav = files.get(path);
    if (!wav) return sendJson(res, 404, { detail: 'File not found' });
    const faults = instance.faults;
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length });
    if (!faults.die_mid_stream && faults.stall_ms <= 0) {
      res.end(wav);
      return;
    }
    const half = Math.max(45, wav.length >> 1);
    res.write(wav.subarray(0, half));
    if (faults.die_mid_stream) {
      // Let the first half reach the client before the cut.
      await sleep(10);
      res.socket?.destroy();
      return;
    }
    const gone = clientGone(req, res);
    try {
      await sleep(faults.stall_ms, undefined, { signal: gone });
    } catch {
      return;
    }
    res.end(wav.subarray(half));
  }

  return (req, res, instance) => {
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = decodeURIComponent(url.pathname);
    const method = req.method ?? 'GET';
    const onError = (): void => {
      if (!res.headersSent) sendJson(res, 500, { detail: 'simulator failure' });
      else res.destroy();
    };
    if (method === 'GET' && path === '/config') return sendJson(res, 200, appConfig(root(req), options.version));
    if (method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>Kokoro TTS (voicegate simulator)</title><p>Simulated Gradio app.</p>');
      return;
    }
    if (!path.startsWith(prefix + '/')) return sendJson(res, 404, { detail: 'Not Found' });
    const rest = path.slice(prefix.length);
    if (method === 'GET' && rest === '/info') return sendJson(res, 200, apiInfo());
    if (method === 'POST' && rest.startsWith('/call/')) {
      const name = rest.slice('/call/'.length);
      if (name.includes('/')) return sendJson(res, 405, { detail: 'Method Not Allowed' });
      void call(req, res, instance, name).catch(onError);
      return;
    }
    if (method === 'GET' && rest.startsWith('/call/')) {
      const parts = rest.slice('/call/'.length).split('/');
      if (parts.length !== 2) return sendJson(res, 404, { detail: 'Not Found' });
      return callStream(req, res, parts[1]!);
    }
    if (method === 'POST' && rest === '/queue/join') {
      void queueJoin(req, res, instance).catch(onError);
      return;
    }
    if (method === 'GET' && rest === '/queue/data') return queueData(req, res, url.searchParams.get('session_hash'));
    if (method === 'POST' && (rest === '/cancel' || rest === '/reset')) {
      void readBody(req)
        .then((text) => {
          const id = (JSON.parse(text || '{}') as { event_id?: string }).event_id;
          const job = id ? jobs.get(id) : undefined;
          if (job) cancel(job);
          sendJson(res, 200, { success: true });
        })
        .catch(onError);
      return;
    }
    if (method === 'GET' && rest.startsWith('/file=')) {
      void download(req, res, instance, rest.slice('/file='.length)).catch(onError);
      return;
    }
    if (method === 'GET' && rest.startsWith('/heartbeat/')) {
      openSse(res);
      const heartbeat = setInterval(() => res.write(`data: ${JSON.stringify({ msg: 'heartbeat' })}\n\n`), heartbeatMs);
      res.once('close', () => clearInterval(heartbeat));
      return;
    }
    sendJson(res, 404, { detail: 'Not Found' });
  };
}

/** The Space's label of a voice (`af_heart` → `🇺🇸 🚺 Heart`): its CHOICES dict maps labels to ids. */
function voiceLabel(voice: string): string {
  const flag = voice[0] === 'b' ? '🇬🇧' : '🇺🇸';
  const sex = voice[1] === 'f' ? '🚺' : '🚹';
  const name = voice.slice(3);
  return `${flag} ${sex} ${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}

function component(id: number, type: string, props: Record<string, unknown>): Record<string, unknown> {
  return { id, type, props: { ...props, visible: true, elem_id: null, elem_classes: [] }, skip_api: type === 'button', component_class_id: type, key: null };
}

/** The Blocks config the Space would serve at `/config` (the fields @gradio/client reads). */
export function appConfig(root: string, version: 4 | 5): Record<string, unknown> {
  const components = [
    component(C.text, 'textbox', { label: 'Input Text', value: '' }),
    component(C.voice, 'dropdown', {
      label: 'Voice',
      info: 'Quality and availability vary by language',
      value: 'af_heart',
      // Gradio 4+ serves choices as [label, value] pairs; the Space labels them for people.
      choices: KOKORO_VOICES.map((v) => [voiceLabel(v), v]),
      type: 'value',
      multiselect: false,
      allow_custom_value: false,
      filterable: true,
      max_choices: null,
      interactive: true,
    }),
    component(C.speed, 'slider', { label: 'Speed', value: 1, minimum: 0.5, maximum: 2, step: 0.1 }),
    component(C.useGpu, 'checkbox', { label: 'Hardware', value: true }),
    component(C.audio, 'audio', { label: 'Output Audio', streaming: false, autoplay: true, interactive: false }),
    component(C.tokens, 'textbox', { label: 'Output Tokens', interactive: false }),
    component(C.button, 'button', { value: 'Generate' }),
    component(C.predictButton, 'button', { value: 'Predict' }),
    component(C.tokenizeButton, 'button', { value: 'Tokenize' }),
  ];
  const buttons = [C.button, C.predictButton, C.tokenizeButton];
  const dependencies = ENDPOINTS.map((e, i) => ({
    id: e.fnIndex,
    targets: [[buttons[i], 'click']],
    inputs: e.inputs,
    outputs: e.outputs,
    backend_fn: true,
    js: null,
    queue: null,
    api_name: e.name,
    scroll_to_output: false,
    show_progress: 'full',
    trigger_after: null,
    trigger_only_on_success: false,
    trigger_mode: 'once',
    show_api: true,
    zerogpu: false,
    rendered_in: null,
    connection: 'sse',
    types: { generator: false, cancel: false },
  }));
  const ids = components.map((c) => c.id as number);
  return {
    version: version === 5 ? '5.12.0' : '4.44.1',
    mode: 'blocks',
    app_id: 4242,
    dev_mode: false,
    analytics_enabled: false,
    components,
    css: null,
    connect_heartbeat: false,
    js: null,
    head: null,
    title: 'Kokoro TTS (voicegate simulator)',
    space_id: null,
    enable_queue: true,
    show_error: true,
    show_api: true,
    is_colab: false,
    max_file_size: null,
    stylesheets: [],
    theme: 'default',
    protocol: 'sse_v3',
    body_css: {},
    fill_height: false,
    fill_width: false,
    theme_hash: 'sim',
    layout: { id: 0, children: ids.map((id) => ({ id })) },
    dependencies,
    root,
    ...(version === 5 ? { api_prefix: '/gradio_api' } : {}),
    username: null,
    auth_required: false,
    page: { '': { components: ids, dependencies: dependencies.map((d) => d.id), layout: { id: 0, children: ids.map((id) => ({ id })) } } },
    pages: [['', 'Home']],
    current_page: '',
  };
}

function param(label: string, name: string, type: Record<string, unknown>, python: string, componentName: string, example: unknown, defaultValue?: unknown): Record<string, unknown> {
  return {
    label,
    parameter_name: name,
    parameter_has_default: defaultValue !== undefined,
    parameter_default: defaultValue ?? null,
    type,
    python_type: { type: python, description: '' },
    component: componentName,
    example_input: example,
  };
}

const AUDIO_RETURN = {
  label: 'Output Audio',
  type: { properties: { path: { type: 'string' }, url: { type: 'string' }, size: { type: 'integer' }, orig_name: { type: 'string' }, mime_type: { type: 'string' }, is_stream: { type: 'boolean' }, meta: { type: 'object' } }, required: ['path'], title: 'FileData', type: 'object' },
  python_type: { type: 'filepath', description: '' },
  component: 'Audio',
};
const TOKENS_RETURN = { label: 'Output Tokens', type: { type: 'string' }, python_type: { type: 'str', description: '' }, component: 'Textbox' };

/** `GET …/info`: the API schema (named endpoints of the Space). */
export function apiInfo(): Record<string, unknown> {
  const text = param('Input Text', 'text', { type: 'string' }, 'str', 'Textbox', 'Hello!');
  const voice = param('Voice', 'voice', { enum: [...KOKORO_VOICES], type: 'string' }, `Literal[${KOKORO_VOICES.map((v) => `'${v}'`).join(', ')}]`, 'Dropdown', 'af_heart', 'af_heart');
  const speed = param('Speed', 'speed', { type: 'number' }, 'float', 'Slider', 1, 1);
  const useGpu = param('Hardware', 'use_gpu', { type: 'boolean' }, 'bool', 'Checkbox', true, true);
  return {
    named_endpoints: {
      '/generate_first': { parameters: [text, voice, speed, useGpu], returns: [AUDIO_RETURN, TOKENS_RETURN], show_api: true },
      '/predict': { parameters: [text, voice, speed], returns: [AUDIO_RETURN], show_api: true },
      '/tokenize_first': { parameters: [text, voice], returns: [TOKENS_RETURN], show_api: true },
    },
    unnamed_endpoints: {},
  };
}
