/**
 * Runs the client-protocol conformance suite (src/protocol/protocol.common.case.ts) on every
 * front end: native /v1/stream, Cartesia /tts/websocket, ElevenLabs multi-stream-input and
 * Deepgram /v1/speak, each against its own gateway over two simulated GPU instances. The
 * targets below speak each protocol with raw frames, exactly as the official clients do.
 */
import { describe } from 'vitest';
import WebSocket from 'ws';
import { textDurationMs } from '../src/sim/audio.ts';
import { runProtocolConformance, type ConformanceCall, type ConformanceFleet, type ConformanceTarget, type Refusal } from '../src/protocol/protocol.common.case.ts';
import { API_KEY, CARTESIA_VOICE, DEEPGRAM_MODEL, ELEVENLABS_VOICE, startCompatGateway, type CompatFixture } from './helpers/compat-gateway.ts';

const MAX_MESSAGE_BYTES = 16 * 1024;

interface Hooks {
  /** Decoded audio bytes in a message, or 0. */
  audioOf(data: Buffer, isBinary: boolean, json: Record<string, unknown> | null): number;
  isError(json: Record<string, unknown>): boolean;
}

/** A raw socket recording audio, errors and JSON in order. */
class RawCall {
  bytes = 0;
  readonly errorList: Record<string, unknown>[] = [];
  readonly messages: Record<string, unknown>[] = [];
  closeCode: number | undefined;
  private waiters: { match: (m: Record<string, unknown>) => boolean; resolve: () => void }[] = [];

  constructor(
    readonly ws: WebSocket,
    hooks: Hooks,
  ) {
    ws.on('message', (data: Buffer, isBinary) => {
      let json: Record<string, unknown> | null = null;
      if (!isBinary) json = JSON.parse(String(data)) as Record<string, unknown>;
      this.bytes += hooks.audioOf(data, isBinary, json);
      if (!json) return;
      if (hooks.isError(json)) this.errorList.push(json);
      this.messages.push(json);
      this.waiters = this.waiters.filter((w) => (w.match(json) ? (w.resolve(), false) : true));
    });
    ws.on('close', (code) => (this.closeCode = code));
  }

  wait(match: (m: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<void> {
    if (this.messages.some(match)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; last messages ${JSON.stringify(this.messages.slice(-3)).slice(0, 500)}`)), timeoutMs);
      this.waiters.push({ match, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  base(): Pick<ConformanceCall, 'raw' | 'audioBytes' | 'errors' | 'pause' | 'resume' | 'close'> {
    const socket = (this.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    return {
      raw: (frame) => this.ws.send(frame),
      audioBytes: () => this.bytes,
      errors: () => this.errorList,
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      close: () =>
        new Promise<void>((resolve) => {
          if (this.ws.readyState === WebSocket.CLOSED) return resolve();
          this.ws.once('close', () => resolve());
          this.ws.close();
        }),
    };
  }
}

function connect(url: string, headers: Record<string, string>, hooks: Hooks): Promise<RawCall> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const call = new RawCall(ws, hooks);
    ws.once('open', () => resolve(call));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += String(d)));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { refusal: { status: res.statusCode, body: JSON.parse(body) } })));
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

/** Opens; an upgrade refusal is reported as such, else the first error message and close code. */
async function refusal(open: () => Promise<RawCall>, provoke: (call: RawCall) => void): Promise<Refusal> {
  let call: RawCall;
  try {
    call = await open();
  } catch (err) {
    const refused = (err as { refusal?: Refusal }).refusal;
    if (refused) return refused;
    throw err;
  }
  provoke(call);
  await call.wait(() => call.errorList.length > 0, 5000);
  await new Promise((r) => setTimeout(r, 100));
  const result = { closeCode: call.closeCode, body: call.errorList[0]! };
  await call.base().close();
  return result;
}

const b64Audio = (field: string) => (_d: Buffer, _b: boolean, json: Record<string, unknown> | null) => (json && typeof json[field] === 'string' ? Buffer.from(json[field] as string, 'base64').length : 0);

function fleetOf(fx: CompatFixture): ConformanceFleet {
  return {
    requests: () => new Map(fx.fleet.instances.map((i) => [i.id, i.requests()])),
    active: () => fx.totalActive(),
    dieMidStream: (id, on) => fx.instanceOf(id).setFaults({ die_mid_stream: on }),
    expectedMs: (text) => textDurationMs(text),
    maxMessageBytes: MAX_MESSAGE_BYTES,
  };
}

async function setup(make: (fx: CompatFixture) => ConformanceTarget) {
  const fx = await startCompatGateway({
    latency: { first_audio_ms: 20, rtf: 0.3, chunk_ms: 100 },
    // A small hold-back limit so a slow reader really makes the session wait.
    session: { max_message_bytes: MAX_MESSAGE_BYTES, max_buffered_bytes: 16 * 1024 },
  });
  return { target: make(fx), fleet: fleetOf(fx), close: () => fx.close() };
}

// ── native /v1/stream ───────────────────────────────────────────────────────────────────────
function nativeTarget(fx: CompatFixture): ConformanceTarget {
  const hooks: Hooks = { audioOf: (d, bin) => (bin ? d.length : 0), isError: (m) => m.type === 'error' };
  const isError = (m: Record<string, unknown>) => (m.type === 'error' && typeof m.code === 'string') || (typeof m.error === 'object' && m.error !== null);
  const open = async (o: { key?: string; voice?: string; apiKey?: string | null } = {}) => {
    const q = new URLSearchParams();
    if (o.key) q.set('session_id', o.key);
    const headers: Record<string, string> = o.apiKey === null ? {} : { authorization: `Bearer ${o.apiKey ?? API_KEY}` };
    const call = await connect(`${fx.ws}/v1/stream?${q}`, headers, hooks);
    call.send({ type: 'start', voice: o.voice ?? 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: 16000 } });
    return call;
  };
  return {
    name: 'native',
    isError,
    async open(o) {
      const call = await open(o);
      await call.wait((m) => m.type === 'ready');
      let turns = 0;
      return {
        ...call.base(),
        say: (text) => call.send({ type: 'text', text }),
        endTurn: () => call.send({ type: 'flush' }),
        bargeIn: async () => {
          const before = call.messages.filter((m) => m.type === 'cancelled').length;
          call.send({ type: 'cancel' });
          await call.wait(() => call.messages.filter((m) => m.type === 'cancelled').length > before);
        },
        turnDone: async (timeoutMs) => {
          const n = ++turns;
          await call.wait(() => call.messages.filter((m) => m.type === 'turn_end').length >= n, timeoutMs);
        },
        errors: () => call.errorList,
      };
    },
    refused: (o) => refusal(() => open(o), () => {}),
  };
}

// ── Cartesia /tts/websocket ─────────────────────────────────────────────────────────────────
function cartesiaTarget(fx: CompatFixture): ConformanceTarget {
  const isError = (m: Record<string, unknown>) => (m.type === 'error' && typeof m.status_code === 'number' && typeof m.message === 'string') || (typeof m.title === 'string' && typeof m.error_code === 'string');
  const hooks: Hooks = { audioOf: b64Audio('data'), isError };
  const open = (o: { key?: string; apiKey?: string | null } = {}) => {
    const q = new URLSearchParams({ cartesia_version: '2026-03-01' });
    if (o.key) q.set('session_id', o.key);
    return connect(`${fx.ws}/tts/websocket?${q}`, o.apiKey === null ? {} : { 'x-api-key': o.apiKey ?? API_KEY }, hooks);
  };
  const request = (voice: string) => ({ model_id: 'sonic-3', voice: { mode: 'id', id: voice }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 16000 }, language: 'en', max_buffer_delay_ms: 0 });
  return {
    name: 'cartesia',
    isError,
    async open(o = {}) {
      const call = await open(o);
      const base = request(o.voice ?? CARTESIA_VOICE);
      let turn = 0;
      const ctx = () => `turn-${turn}`;
      return {
        ...call.base(),
        say: (text) => call.send({ ...base, context_id: ctx(), transcript: text, continue: true }),
        endTurn: () => call.send({ ...base, context_id: ctx(), transcript: '', continue: false }),
        bargeIn: async () => {
          call.send({ context_id: ctx(), cancel: true });
          turn++;
        },
        turnDone: async (timeoutMs) => {
          const id = ctx();
          await call.wait((m) => m.type === 'done' && m.context_id === id, timeoutMs);
          turn++;
        },
      };
    },
    refused: (o) => refusal(() => open(o), (call) => call.send({ ...request(o.voice ?? CARTESIA_VOICE), context_id: 'refused', transcript: 'Hello.', continue: false })),
  };
}

// ── ElevenLabs multi-stream-input ───────────────────────────────────────────────────────────
function elevenLabsTarget(fx: CompatFixture): ConformanceTarget {
  const isError = (m: Record<string, unknown>) => (typeof m.error === 'string' && typeof m.message === 'string') || (typeof m.detail === 'object' && m.detail !== null && typeof (m.detail as Record<string, unknown>).status === 'string');
  const hooks: Hooks = { audioOf: b64Audio('audio'), isError };
  const open = (o: { key?: string; voice?: string; apiKey?: string | null } = {}) => {
    const q = new URLSearchParams({ model_id: 'eleven_flash_v2_5', output_format: 'pcm_16000', auto_mode: 'true' });
    if (o.key) q.set('session_id', o.key);
    return connect(`${fx.ws}/v1/text-to-speech/${o.voice ?? ELEVENLABS_VOICE}/multi-stream-input?${q}`, o.apiKey === null ? {} : { 'xi-api-key': o.apiKey ?? API_KEY }, hooks);
  };
  return {
    name: 'elevenlabs',
    isError,
    async open(o = {}) {
      const call = await open(o);
      let turn = 0;
      const ctx = () => `turn-${turn}`;
      let opened = -1;
      const init = () => {
        if (opened === turn) return;
        opened = turn;
        call.send({ text: ' ', context_id: ctx(), voice_settings: { stability: 0.5, similarity_boost: 0.8 } });
      };
      return {
        ...call.base(),
        say: (text) => {
          init();
          call.send({ text: `${text} `, context_id: ctx() });
        },
        endTurn: () => {
          init();
          call.send({ text: '', context_id: ctx(), flush: true });
          call.send({ context_id: ctx(), close_context: true });
        },
        bargeIn: async () => {
          const id = ctx();
          call.send({ context_id: id, close_context: true });
          await call.wait((m) => m.isFinal === true && m.contextId === id);
          turn++;
        },
        turnDone: async (timeoutMs) => {
          const id = ctx();
          await call.wait((m) => m.isFinal === true && m.contextId === id, timeoutMs);
          turn++;
        },
      };
    },
    // No key at the upgrade is allowed (the first message may carry it): provoke with a message.
    refused: (o) => refusal(() => open(o), (call) => call.send({ text: ' ', context_id: 'refused' })),
  };
}

// ── Deepgram /v1/speak ──────────────────────────────────────────────────────────────────────
function deepgramTarget(fx: CompatFixture): ConformanceTarget {
  const isError = (m: Record<string, unknown>) => ((m.type === 'Warning' || m.type === 'Error') && typeof m.description === 'string' && typeof m.code === 'string') || (typeof m.err_code === 'string' && typeof m.err_msg === 'string');
  const hooks: Hooks = { audioOf: (d, bin) => (bin ? d.length : 0), isError };
  const open = (o: { key?: string; voice?: string; apiKey?: string | null } = {}) => {
    const q = new URLSearchParams({ model: o.voice ?? DEEPGRAM_MODEL, encoding: 'linear16', sample_rate: '16000' });
    if (o.key) q.set('session_id', o.key);
    return connect(`${fx.ws}/v1/speak?${q}`, o.apiKey === null ? {} : { authorization: `Token ${o.apiKey ?? API_KEY}` }, hooks);
  };
  return {
    name: 'deepgram',
    isError,
    async open(o = {}) {
      const call = await open(o);
      await call.wait((m) => m.type === 'Metadata');
      let flushes = 0;
      let clears = 0;
      return {
        ...call.base(),
        say: (text) => call.send({ type: 'Speak', text }),
        endTurn: () => call.send({ type: 'Flush' }),
        bargeIn: async () => {
          const n = ++clears;
          call.send({ type: 'Clear' });
          await call.wait(() => call.messages.filter((m) => m.type === 'Cleared').length >= n);
        },
        turnDone: async (timeoutMs) => {
          const n = ++flushes;
          await call.wait(() => call.messages.filter((m) => m.type === 'Flushed').length >= n, timeoutMs);
        },
      };
    },
    refused: (o) => refusal(() => open(o), () => {}),
  };
}

describe('conformance: native /v1/stream', () => runProtocolConformance(() => setup(nativeTarget)));
describe('conformance: Cartesia /tts/websocket', () => runProtocolConformance(() => setup(cartesiaTarget)));
describe('conformance: ElevenLabs multi-stream-input', () => runProtocolConformance(() => setup(elevenLabsTarget)));
describe('conformance: Deepgram /v1/speak', () => runProtocolConformance(() => setup(deepgramTarget)));
