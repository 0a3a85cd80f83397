/**
 * vLLM-Omni's voice upload API on a fake instance (docs/serving/speech_api.md upstream):
 *   POST   /v1/audio/voices         multipart `audio_sample` (≤ 10 MB), `name`, `consent`
 *                                  (both required), optional `ref_text`, `speaker_description`
 *                                  → `{success: true, voice: {name, consent, created_at, …}}`
 *   DELETE /v1/audio/voices/{name} → `{success, message}`; 404 `{success: false, error}`
 * (the list is part of GET /v1/audio/voices in openai-server.ts). The reference's pitch
 * becomes the cloned voice's signature (signature.ts); a restart forgets every voice.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import busboy from 'busboy';
import type { SimInstance } from './instance.ts';
import { sendJson } from './instance.ts';
import { clonedVoice, referencePitchHz } from './signature.ts';

/** vLLM-Omni's upload limit. */
export const SIM_MAX_VOICE_BYTES = 10 * 1024 * 1024;

export function uploadedVoiceList(instance: SimInstance): { name: string; consent: string; created_at: number }[] {
  return [...instance.clonedVoices.keys()].map((name) => ({ name, consent: 'sim', created_at: 0 }));
}

export function deleteVoice(res: ServerResponse, instance: SimInstance, name: string): void {
  if (!instance.clonedVoices.delete(name)) return sendJson(res, 404, { success: false, error: `Voice '${name}' not found` });
  sendJson(res, 200, { success: true, message: `Voice '${name}' deleted successfully` });
}

export function uploadVoice(req: IncomingMessage, res: ServerResponse, instance: SimInstance): void {
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers, limits: { files: 1, fileSize: SIM_MAX_VOICE_BYTES } });
  } catch {
    req.resume();
    return sendJson(res, 422, { detail: [{ type: 'value_error', loc: ['body'], msg: 'multipart/form-data expected', input: null }] });
  }
  const fields: Record<string, string> = {};
  const parts: Buffer[] = [];
  let tooLarge = false;
  let sawFile = false;
  parser.on('field', (name, value) => (fields[name] = value));
  parser.on('file', (name, stream) => {
    if (name !== 'audio_sample') return void stream.resume();
    sawFile = true;
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.on('limit', () => (tooLarge = true));
  });
  parser.on('error', () => sendJson(res, 400, { detail: 'malformed multipart body' }));
  parser.on('close', () => {
    const missing = ['name', 'consent'].filter((f) => !fields[f]);
    if (!sawFile) missing.unshift('audio_sample');
    if (missing.length > 0) {
      return sendJson(res, 422, { detail: missing.map((f) => ({ type: 'missing', loc: ['body', f], msg: 'Field required', input: null })) });
    }
    if (tooLarge) return sendJson(res, 413, { detail: `File too large: max ${SIM_MAX_VOICE_BYTES} bytes` });
    const name = fields.name!;
    if (instance.clonedVoices.has(name)) return sendJson(res, 400, { detail: `Voice '${name}' already exists` });
    const audio = Buffer.concat(parts);
    const pitch = referencePitchHz(audio);
    if (pitch === null) return sendJson(res, 400, { detail: 'Invalid audio file: no voice found in the sample (the simulator reads WAV)' });
    instance.clonedVoices.set(name, clonedVoice(pitch, fields.ref_text));
    sendJson(res, 200, {
      success: true,
      voice: {
        name,
        consent: fields.consent,
        created_at: Math.floor(Date.now() / 1000),
        mime_type: 'audio/wav',
        file_size: audio.length,
        ...(fields.ref_text ? { ref_text: fields.ref_text } : {}),
        ...(fields.speaker_description ? { speaker_description: fields.speaker_description } : {}),
      },
    });
  });
  req.pipe(parser);
}
