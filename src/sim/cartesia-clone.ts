/**
 * The fake Cartesia's voice clone API: `POST /voices/clone` (multipart `clip`, `name`,
 * `language`, optional `description`, `base_voice_id`), as the official
 * `@cartesia/cartesia-js` client's `voices.clone()` sends it, answered with its
 * VoiceMetadata (`id`, `name`, `description`, `language`, `created_at`, …). The clip's pitch
 * is the clone's signature (signature.ts): contexts with the clone's id speak at it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import busboy from 'busboy';
import { referencePitchHz } from './signature.ts';

/** Cartesia's clip limit is not documented; this bounds the fake's memory. */
const MAX_CLIP_BYTES = 20 * 1024 * 1024;

export interface FakeCartesiaClone {
  readonly id: string;
  readonly name: string;
  readonly language: string;
  readonly pitchHz: number;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function refuse(res: ServerResponse, status: number, title: string, message: string): void {
  reply(res, status, { title, message, error_code: title.toLowerCase().replace(/\s+/g, '_'), status_code: status, request_id: randomUUID() });
}

/**
 * Handles the clone request; `authorized` says whether its credentials passed, `planClones`
 * whether the account's plan includes cloning (else refused with 403).
 */
export function handleClone(req: IncomingMessage, res: ServerResponse, clones: Map<string, FakeCartesiaClone>, authorized: boolean, planClones = true): void {
  if (!authorized) {
    req.resume();
    return refuse(res, 401, 'Unauthorized', 'invalid or missing API key');
  }
  if (!planClones) {
    req.resume();
    return refuse(res, 403, 'Forbidden', 'your plan does not include voice cloning');
  }
  if (!req.headers['cartesia-version']) {
    req.resume();
    return refuse(res, 400, 'Bad Request', 'Cartesia-Version header is required');
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers, limits: { files: 1, fileSize: MAX_CLIP_BYTES } });
  } catch {
    req.resume();
    return refuse(res, 400, 'Bad Request', 'multipart/form-data expected');
  }
  const fields: Record<string, string> = {};
  const parts: Buffer[] = [];
  let sawClip = false;
  let tooLarge = false;
  parser.on('field', (name, value) => (fields[name] = value));
  parser.on('file', (name, stream) => {
    if (name !== 'clip') return void stream.resume();
    sawClip = true;
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.on('limit', () => (tooLarge = true));
  });
  parser.on('error', () => refuse(res, 400, 'Bad Request', 'malformed multipart body'));
  parser.on('close', () => {
    if (!sawClip) return refuse(res, 400, 'Bad Request', 'clip is required');
    if (!fields.name) return refuse(res, 400, 'Bad Request', 'name is required');
    if (!fields.language) return refuse(res, 400, 'Bad Request', 'language is required');
    if (tooLarge) return refuse(res, 413, 'Payload Too Large', 'clip too large');
    const pitchHz = referencePitchHz(Buffer.concat(parts));
    if (pitchHz === null) return refuse(res, 400, 'Bad Request', 'the clip has no voice in it (the fake reads WAV)');
    const clone: FakeCartesiaClone = { id: randomUUID(), name: fields.name, language: fields.language, pitchHz };
    clones.set(clone.id, clone);
    reply(res, 200, {
      id: clone.id,
      user_id: 'fake-user',
      name: clone.name,
      description: fields.description ?? '',
      tagline: '',
      language: clone.language,
      access: 'private',
      visibility: 'owner',
      created_at: new Date().toISOString(),
    });
  });
  req.pipe(parser);
}
