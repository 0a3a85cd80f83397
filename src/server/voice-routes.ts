/**
 * The voice library's HTTP API (docs/voices.md):
 *   POST   /v1/audio/voices        multipart upload (`audio`, `name`, `ref_text`, `language`,
 *                                  `pool`, `consent`) → 201 with the voice
 *   GET    /v1/audio/voices/{id}   one library voice
 *   DELETE /v1/audio/voices/{id}   removes it
 * `GET /v1/audio/voices` (speech-routes.ts) lists library voices beside the pools' own.
 * Errors use OpenAI's shape with a stable `code`; every route but the CORS preflight asks for
 * the API key.
 */
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { VoiceError } from '../voices/errors.ts';
import type { VoiceLibrary } from '../voices/library.ts';
import { libraryVoiceObject } from '../voices/listing.ts';
import { parseVoiceUpload } from '../voices/multipart.ts';
import type { Authorizer } from './auth.ts';
import { createCors } from './cors.ts';
import type { HttpResponse, HttpRoute, RequestInfo } from './engine.ts';
import { requestIdOf } from './routes.ts';

export const LIBRARY_PATH = '/v1/audio/voices';

export interface VoiceRouteOptions {
  readonly library: VoiceLibrary;
  readonly config: Pick<Config, 'voices' | 'pools' | 'http'>;
  readonly authorize: Authorizer;
  readonly logger: Logger;
}

function sendJson(res: HttpResponse, status: number, head: Record<string, string>, body: unknown): void {
  res.writeHead(status, { ...head, 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function sendError(res: HttpResponse, head: Record<string, string>, err: VoiceError): void {
  sendJson(res, err.status, head, { error: { message: err.message, type: err.status >= 500 ? 'server_error' : 'invalid_request_error', param: err.param, code: err.code } });
}

const UNAUTHORIZED = new VoiceError(401, 'missing_field', 'Missing or invalid API key. Send it as Authorization: Bearer <key>.');

export function voiceRoutes(options: VoiceRouteOptions): HttpRoute[] {
  const { library, config, logger } = options;
  const cors = createCors({ origins: config.http.cors_origins, methods: 'GET, POST, DELETE, OPTIONS' });

  const headOf = (req: RequestInfo): Record<string, string> => ({ 'x-request-id': requestIdOf(req), ...cors.headers(req) });

  const idOf = (req: RequestInfo): string => {
    try {
      return decodeURIComponent(req.path.slice(LIBRARY_PATH.length + 1));
    } catch {
      return '';
    }
  };

  const answer = async (req: RequestInfo, res: HttpResponse, head: Record<string, string>, work: () => Promise<void>): Promise<void> => {
    try {
      await work();
    } catch (err) {
      if (!(err instanceof VoiceError)) throw err;
      if (err.status >= 500) logger.error({ err, request_id: head['x-request-id'] }, 'voice library request failed');
      else logger.info({ code: err.code, message: err.message, request_id: head['x-request-id'], path: req.path }, 'voice library request refused');
      sendError(res, head, err);
    }
  };

  const upload = async (req: RequestInfo, res: HttpResponse, _body: Buffer | null, stream?: Readable): Promise<void> => {
    const head = headOf(req);
    if (!options.authorize(req)) {
      stream?.resume();
      return sendJson(res, 401, { ...head, 'www-authenticate': 'Bearer' }, { error: { message: UNAUTHORIZED.message, type: 'authentication_error', param: null, code: 'invalid_api_key' } });
    }
    await answer(req, res, head, async () => {
      if (!stream) throw new VoiceError(500, 'storage_failed', 'the engine gave no request body');
      try {
        await library.store.prepare();
      } catch (err) {
        stream.resume();
        throw new VoiceError(500, 'storage_failed', `voices.dir cannot be written: ${(err as Error).message}`);
      }
      const parsed = await parseVoiceUpload(stream, req.headers, {
        maxFileBytes: config.voices.max_upload_bytes,
        tempPath: library.store.tempPath('upload'),
        // Name and pool sent before the clip: a duplicate or an unknown pool is refused before 50 MB arrive.
        beforeFile: (fields) => {
          if (fields.name) library.precheck(fields.name, fields.pool || undefined);
        },
      });
      const { fields } = parsed;
      if (!parsed.file || parsed.fileBytes === 0) {
        if (parsed.file) await rm(parsed.file, { force: true });
        throw new VoiceError(400, 'missing_field', 'an `audio` file (WAV, MP3, FLAC or Ogg) is required', 'audio');
      }
      if (!fields.name) {
        await rm(parsed.file, { force: true });
        throw new VoiceError(400, 'missing_field', 'a `name` field is required', 'name');
      }
      const result = await library.upload({
        file: parsed.file,
        name: fields.name,
        refText: fields.ref_text || undefined,
        language: fields.language || undefined,
        pool: fields.pool || undefined,
        consent: fields.consent || undefined,
      });
      sendJson(res, 201, head, { ...libraryVoiceObject(result.voice, config.pools), instances: result.instances });
    });
  };

  const getOne = (req: RequestInfo, res: HttpResponse): Promise<void> => {
    const head = headOf(req);
    if (!options.authorize(req)) return Promise.resolve(sendJson(res, 401, { ...head, 'www-authenticate': 'Bearer' }, { error: { message: UNAUTHORIZED.message, type: 'authentication_error', param: null, code: 'invalid_api_key' } }));
    return answer(req, res, head, async () => {
      const meta = library.get(idOf(req));
      if (!meta) throw new VoiceError(404, 'voice_not_found', `no voice '${idOf(req)}' in the library`);
      sendJson(res, 200, head, libraryVoiceObject(meta, config.pools));
    });
  };

  const remove = (req: RequestInfo, res: HttpResponse): Promise<void> => {
    const head = headOf(req);
    if (!options.authorize(req)) return Promise.resolve(sendJson(res, 401, { ...head, 'www-authenticate': 'Bearer' }, { error: { message: UNAUTHORIZED.message, type: 'authentication_error', param: null, code: 'invalid_api_key' } }));
    return answer(req, res, head, async () => {
      const meta = await library.delete(idOf(req));
      sendJson(res, 200, head, { id: meta.id, object: 'voice', deleted: true });
    });
  };

  const preflight = (req: RequestInfo, res: HttpResponse): void => {
    res.writeHead(204, { 'x-request-id': requestIdOf(req), allow: 'GET, DELETE, OPTIONS', ...cors.preflight(req) });
    res.end();
  };

  return [
    { method: 'POST', path: LIBRARY_PATH, body: 'stream', handler: upload },
    { method: 'GET', path: `${LIBRARY_PATH}/*`, handler: getOne },
    { method: 'DELETE', path: `${LIBRARY_PATH}/*`, handler: remove },
    { method: 'OPTIONS', path: `${LIBRARY_PATH}/*`, handler: preflight },
  ];
}
