/**
 * Voice cloning for OpenAI-style speech servers (backend `openai`, option `voice_cloning`):
 * - `upload`: vLLM-Omni's voice API (docs/serving/speech_api.md): `POST /v1/audio/voices`
 *   (multipart `audio_sample`, `name`, `consent`, `speaker_description`, optional `ref_text`),
 *   `GET /v1/audio/voices` (`{voices: [name…], uploaded_voices: [{name…}]}`),
 *   `DELETE /v1/audio/voices/{name}`; the voice is then requested by name.
 * - `reference`: no server state: `ref_audio` (a base64 data URL) and `ref_text` go in every
 *   speech request (vLLM-Omni's Base task, CosyVoice3; see referenceFields).
 * docs/voices.md says which servers take which.
 */
import { FormData, request } from 'undici';
import { BackendError, type VoiceCloning, type VoiceReference } from './backend.ts';
import { errorMessageFromBody, kindForStatus } from './http.ts';

export interface VoiceUploadOptions {
  /** Base URL of the instance (a path prefix is kept). */
  readonly url: string;
  /** List and upload path. vLLM-Omni: `/v1/audio/voices`. */
  readonly path: string;
  /** Headers of every request (auth). */
  readonly headers: Readonly<Record<string, string>>;
}

/** Voice names in a list answer: vLLM-Omni's and Kokoro-FastAPI's shapes (strings or {id|name}). */
export function voiceNamesOf(body: unknown): string[] {
  const names = new Set<string>();
  const add = (item: unknown): void => {
    if (typeof item === 'string') names.add(item);
    else if (item && typeof item === 'object') {
      const { id, name } = item as { id?: unknown; name?: unknown };
      if (typeof id === 'string') names.add(id);
      if (typeof name === 'string') names.add(name);
    }
  };
  if (body && typeof body === 'object') {
    const { voices, uploaded_voices: uploaded } = body as { voices?: unknown; uploaded_voices?: unknown };
    if (Array.isArray(voices)) voices.forEach(add);
    if (Array.isArray(uploaded)) uploaded.forEach(add);
  }
  return [...names];
}

function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`);
}

function transportError(err: unknown, what: string): BackendError {
  if (err instanceof BackendError) return err;
  const name = (err as { name?: string })?.name;
  if (name === 'AbortError' || name === 'TimeoutError') return new BackendError('timeout', `${what}: gave up (${(err as Error).message})`, undefined, { cause: err });
  return new BackendError('connect', `${what}: ${(err as Error)?.message ?? String(err)}`, undefined, { cause: err });
}

/** The `upload` mode: register once per instance, through the server's own voice API. */
export class UploadVoiceCloning implements VoiceCloning {
  readonly mode = 'upload' as const;
  constructor(private readonly options: VoiceUploadOptions) {}

  async listVoices(signal: AbortSignal): Promise<string[]> {
    const what = 'voice list';
    try {
      const res = await request(joinUrl(this.options.url, this.options.path), { method: 'GET', headers: { ...this.options.headers }, signal });
      const text = await res.body.text();
      if (res.statusCode >= 300) throw new BackendError(kindForStatus(res.statusCode), `${what}: HTTP ${res.statusCode} ${errorMessageFromBody(text)}`, res.statusCode);
      try {
        return voiceNamesOf(JSON.parse(text));
      } catch {
        throw new BackendError('protocol', `${what}: the answer is not JSON`);
      }
    } catch (err) {
      throw transportError(err, what);
    }
  }

  async registerVoice(voice: VoiceReference, signal: AbortSignal): Promise<void> {
    const what = `voice upload of ${voice.id}`;
    const form = new FormData();
    form.append('audio_sample', new Blob([voice.wav], { type: 'audio/wav' }), `${voice.id}.wav`);
    form.append('name', voice.id);
    form.append('consent', voice.consent);
    if (voice.refText) form.append('ref_text', voice.refText);
    form.append('speaker_description', voice.name);
    let refusal: BackendError;
    try {
      const res = await request(joinUrl(this.options.url, this.options.path), { method: 'POST', headers: { ...this.options.headers }, body: form, signal });
      const text = await res.body.text();
      if (res.statusCode < 300) return;
      refusal = new BackendError(kindForStatus(res.statusCode), `${what}: HTTP ${res.statusCode} ${errorMessageFromBody(text)}`, res.statusCode);
    } catch (err) {
      throw transportError(err, what);
    }
    // Servers refuse a name they already hold (a retry after a lost answer): that is success.
    const held = await this.listVoices(signal).catch(() => [] as string[]);
    if (!held.includes(voice.id)) throw refusal;
  }

  async removeVoice(id: string, signal: AbortSignal): Promise<void> {
    const what = `voice delete of ${id}`;
    try {
      const res = await request(joinUrl(this.options.url, `${this.options.path}/${encodeURIComponent(id)}`), { method: 'DELETE', headers: { ...this.options.headers }, signal });
      const text = await res.body.text();
      if (res.statusCode >= 300 && res.statusCode !== 404) throw new BackendError(kindForStatus(res.statusCode), `${what}: HTTP ${res.statusCode} ${errorMessageFromBody(text)}`, res.statusCode);
    } catch (err) {
      throw transportError(err, what);
    }
  }
}

/** The `reference` mode: nothing to register; referenceFields puts the clip in each request. */
export class ReferenceVoiceCloning implements VoiceCloning {
  readonly mode = 'reference' as const;
  async listVoices(): Promise<string[]> {
    return [];
  }
  async registerVoice(): Promise<void> {}
  async removeVoice(): Promise<void> {}
}

/** Speech request fields carrying a reference (vLLM-Omni: `ref_audio` data URL, `ref_text`). */
export function referenceFields(reference: VoiceReference): Record<string, string> {
  const fields: Record<string, string> = { ref_audio: `data:audio/wav;base64,${Buffer.from(reference.wav).toString('base64')}` };
  if (reference.refText) fields.ref_text = reference.refText;
  return fields;
}
