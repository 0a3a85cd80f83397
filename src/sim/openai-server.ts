/**
 * The OpenAI-compatible speech servers the simulator imitates (PROTOCOLS.md §2, §4, §5):
 * - `openai`: Kokoro-FastAPI (remsky). Streams by default (`stream` defaults to true), pcm or
 *   WAV whose sizes are 0 (unknown), errors as FastAPI `{"detail":{error,message,type}}`,
 *   validation errors 422 `{"detail":[…]}`, `GET /health`, `/v1/models`, `/v1/audio/voices`.
 * - `chattts`: ChatTTS `examples/api/openai_api.py`. WAV only; `stream: true` gives a 44-byte
 *   header with sizes 0xFFFFFFFF then raw PCM chunks, otherwise the whole file labelled
 *   `audio/mpeg` (as upstream does); errors `{"error":{message,type}}`; `GET /health` →
 *   `{status, model_loaded}`.
 * mp3/opus/aac/flac cannot be produced here and are refused with a clear error (400; ChatTTS
 * answers 422 for a format other than mp3 or ogg).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { wavHeader, encodeWav } from '../audio/wav.ts';
import { SIM_SAMPLE_RATE } from './audio.ts';
import { clientGone, readBody, s16Bytes, sendJson, writeWithDrain, type RequestHandler, type SimInstance } from './instance.ts';
import { clonedVoice, referencePitchHz, type ClonedVoice } from './signature.ts';
import { deleteVoice, uploadVoice, uploadedVoiceList } from './voice-api.ts';

/** Kokoro's 28 voices (KOKORO_VOICE_SET adds the OpenAI names Kokoro-FastAPI maps onto them). */
export const KOKORO_VOICES = [
  'af_heart', 'af_bella', 'af_nicole', 'af_aoede', 'af_kore', 'af_sarah', 'af_nova', 'af_sky', 'af_alloy', 'af_jessica', 'af_river',
  'am_michael', 'am_fenrir', 'am_puck', 'am_echo', 'am_eric', 'am_liam', 'am_onyx', 'am_santa', 'am_adam',
  'bf_emma', 'bf_isabella', 'bf_alice', 'bf_lily', 'bm_george', 'bm_fable', 'bm_lewis', 'bm_daniel',
] as const;
const OPENAI_VOICE_NAMES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'onyx', 'nova', 'sage', 'shimmer', 'verse'];
const KOKORO_MODELS = new Set(['kokoro', 'tts-1', 'tts-1-hd', 'gpt-4o-mini-tts']);
const CHATTTS_VOICES = new Set(['default', 'alloy', 'echo']);
const KOKORO_VOICE_SET = new Set<string>([...KOKORO_VOICES, ...OPENAI_VOICE_NAMES]);

type Variant = 'openai' | 'chattts';

interface SpeechBody {
  model?: unknown;
  input?: unknown;
  voice?: unknown;
  response_format?: unknown;
  speed?: unknown;
  /** OpenAI's style instructions (gpt-4o-mini-tts, Qwen3-TTS front ends); accepted, recorded, not rendered. */
  instructions?: unknown;
  stream?: unknown;
  /** vLLM-Omni voice cloning per request: a data URL (base64 WAV here) and its transcript. */
  ref_audio?: unknown;
  ref_text?: unknown;
}

function fail(res: ServerResponse, variant: Variant, status: number, code: string, message: string): void {
  if (res.headersSent) return;
  const type = status >= 500 ? 'server_error' : 'invalid_request_error';
  if (variant === 'chattts') sendJson(res, status, { error: { message, type } });
  else if (status === 422) sendJson(res, status, { detail: [{ type: 'value_error', loc: ['body'], msg: message, input: null }] });
  else sendJson(res, status, { detail: { error: code, message, type } });
}

/** Kokoro voices combine with `+` and weights: `af_bella(2)+af_sky`. */
function knownKokoroVoice(voice: string): boolean {
  return voice.split('+').every((part) => KOKORO_VOICE_SET.has(part.replace(/\(\d+(\.\d+)?\)$/, '').trim()));
}

export function createOpenAIHandler(variant: Variant): RequestHandler {
  return (req, res, instance) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && path === '/v1/audio/speech') {
      void speech(req, res, instance, variant).catch(() => {
        if (!res.headersSent) fail(res, variant, 500, 'server_error', 'simulator failure');
        else res.destroy();
      });
      return;
    }
    if (req.method === 'GET' && path === '/health') {
      if (variant === 'chattts') sendJson(res, 200, { status: 'healthy', model_loaded: true });
      else sendJson(res, 200, { status: 'healthy' });
      return;
    }
    if (req.method === 'GET' && (path === '/v1/models' || path.startsWith('/v1/models/'))) {
      const ids = variant === 'chattts' ? ['tts-1'] : ['kokoro', 'tts-1', 'tts-1-hd'];
      const models = ids.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: variant === 'chattts' ? 'chattts' : 'kokoro' }));
      if (path === '/v1/models') sendJson(res, 200, { object: 'list', data: models });
      else {
        const model = models.find((m) => m.id === decodeURIComponent(path.slice('/v1/models/'.length)));
        if (model) sendJson(res, 200, model);
        else fail(res, variant, 404, 'model_not_found', 'model not found');
      }
      return;
    }
    if (req.method === 'GET' && path === '/v1/audio/voices') {
      const voices = [...(variant === 'chattts' ? CHATTTS_VOICES : KOKORO_VOICES), ...instance.clonedVoices.keys()];
      // Kokoro-FastAPI's shape plus vLLM-Omni's `uploaded_voices`.
      sendJson(res, 200, { voices: voices.map((id) => ({ id, name: id })), uploaded_voices: uploadedVoiceList(instance) });
      return;
    }
    if (req.method === 'POST' && path === '/v1/audio/voices') return uploadVoice(req, res, instance);
    if (req.method === 'DELETE' && path.startsWith('/v1/audio/voices/')) return deleteVoice(res, instance, decodeURIComponent(path.slice('/v1/audio/voices/'.length)));
    fail(res, variant, 404, 'not_found', `no route ${req.method} ${path}`);
  };
}

async function speech(req: IncomingMessage, res: ServerResponse, instance: SimInstance, variant: Variant): Promise<void> {
  const gone = clientGone(req, res);
  let body: SpeechBody;
  try {
    body = JSON.parse(await readBody(req)) as SpeechBody;
  } catch {
    fail(res, variant, 422, 'validation_error', 'body is not JSON');
    return;
  }
  instance.recordReceived(typeof body.ref_audio === 'string' ? { ...body, ref_audio: `[${body.ref_audio.length} chars]` } : { ...body });
  const input = body.input;
  if (typeof input !== 'string' || input.length === 0) {
    fail(res, variant, 422, 'validation_error', 'input: field required');
    return;
  }
  const format = body.response_format ?? (variant === 'chattts' ? 'mp3' : 'mp3');
  const voice = typeof body.voice === 'string' ? body.voice : variant === 'chattts' ? 'default' : 'af_heart';
  const speed = typeof body.speed === 'number' ? body.speed : 1;
  const stream = variant === 'chattts' ? body.stream === true : body.stream !== false;
  let cloned: ClonedVoice | undefined = instance.clonedVoices.get(voice);
  if (typeof body.ref_audio === 'string') {
    const comma = body.ref_audio.indexOf(',');
    const pitch = body.ref_audio.startsWith('data:') && comma > 0 ? referencePitchHz(Buffer.from(body.ref_audio.slice(comma + 1), 'base64')) : null;
    if (pitch === null) {
      fail(res, variant, 400, 'invalid_ref_audio', 'ref_audio must be a base64 data URL of a WAV file with a voice in it');
      return;
    }
    cloned = clonedVoice(pitch);
  }

  if (variant === 'openai') {
    if (typeof body.model === 'string' && !KOKORO_MODELS.has(body.model)) {
      fail(res, variant, 400, 'invalid_model', `Unsupported model: ${body.model}`);
      return;
    }
    if (!cloned && !knownKokoroVoice(voice)) {
      fail(res, variant, 400, 'validation_error', `Voice '${voice}' not found`);
      return;
    }
    if (format !== 'pcm' && format !== 'wav') {
      fail(res, variant, 400, 'unsupported_format', `the simulator serves response_format pcm or wav, not ${String(format)}`);
      return;
    }
  } else {
    if (input.length > 2048) {
      fail(res, variant, 422, 'validation_error', 'input: at most 2048 characters');
      return;
    }
    if (!cloned && !CHATTTS_VOICES.has(voice)) {
      fail(res, variant, 400, 'invalid_request_error', `voice ${voice} is not available`);
      return;
    }
    if (format !== 'wav') {
      fail(res, variant, format === 'mp3' || format === 'ogg' ? 400 : 422, 'invalid_request_error', `the simulator serves response_format wav, not ${String(format)}`);
      return;
    }
  }

  const slot = instance.admit();
  if (!slot) {
    const status = instance.latency.over_capacity_status;
    fail(res, variant, status, status === 429 ? 'rate_limit_exceeded' : 'server_busy', `instance busy (${instance.latency.max} streams)`);
    return;
  }
  try {
    if (instance.injectError(slot)) {
      const status = slot.faults.error_status;
      fail(res, variant, status, status === 429 ? 'rate_limit_exceeded' : 'server_error', 'injected failure');
      return;
    }
    const pcm = cloned ? cloned.source.synthesize(input, voice, speed, gone) : instance.render(input, voice, speed, gone);
    if (!stream) {
      // Whole file at the end (ChatTTS labels it audio/mpeg whatever it holds).
      const outcome = await instance.produce(slot, pcm, gone, null);
      if (outcome !== 'done') return;
      const wav = encodeWav(await pcm);
      res.writeHead(200, { 'content-type': variant === 'chattts' ? 'audio/mpeg' : 'audio/wav', 'content-length': wav.length });
      res.end(wav);
      return;
    }
    let headerSent = false;
    const sendHead = (): void => {
      res.writeHead(200, {
        'content-type': format === 'pcm' ? 'audio/pcm' : 'audio/wav',
        'x-accel-buffering': 'no',
        'cache-control': 'no-cache',
      });
      if (format === 'wav') {
        const header = wavHeader(SIM_SAMPLE_RATE, 'pcm_s16le', null);
        // ChatTTS writes 0xFFFFFFFF sizes (wavHeader's streaming form); Kokoro-FastAPI's muxer leaves 0.
        if (variant === 'openai') {
          header.writeUInt32LE(0, 4);
          header.writeUInt32LE(0, header.length - 4);
        }
        res.write(header);
      }
      headerSent = true;
    };
    // ChatTTS yields the WAV header before generating; Kokoro-FastAPI sends headers with the first chunk.
    if (variant === 'chattts') sendHead();
    const outcome = await instance.produce(slot, pcm, gone, {
      write: (samples) => {
        if (!headerSent) sendHead();
        return writeWithDrain(res, s16Bytes(samples));
      },
      die: () => res.socket?.destroy(),
    });
    if (outcome === 'done') {
      if (!headerSent) sendHead();
      res.end();
    } else if (outcome === 'aborted' && !res.writableEnded) res.destroy();
  } finally {
    slot.release();
  }
}
