/**
 * Reads a voice upload (multipart/form-data) as it streams in, with busboy: the clip goes
 * straight to a file under the library's .tmp, never into memory; its first bytes are
 * checked to be audio and its size against the limit as they arrive, so a text file or an
 * oversized clip is refused at once rather than after the whole body.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { SNIFF_BYTES, sniffAudio } from './audio.ts';
import { VoiceError } from './errors.ts';

/** Form fields of an upload and their longest accepted values. */
export const UPLOAD_FIELDS = { name: 100, ref_text: 2000, language: 35, pool: 100, consent: 200 } as const;
export type UploadField = keyof typeof UPLOAD_FIELDS;

/** The file field (`audio`; vLLM-Omni clients call it `audio_sample`). */
const FILE_FIELDS = new Set(['audio', 'audio_sample']);

export interface ParsedUpload {
  readonly fields: Partial<Record<UploadField, string>>;
  /** Where the clip was written (the caller removes it); null when no file was sent. */
  readonly file: string | null;
  readonly fileBytes: number;
}

export interface ParseOptions {
  readonly maxFileBytes: number;
  /** Where to write the clip. */
  readonly tempPath: string;
  /**
   * Called when the file part starts, with the fields sent before it: throwing a VoiceError
   * (a duplicate name, an unknown pool) refuses the upload before the clip is read.
   */
  readonly beforeFile?: (fields: Partial<Record<UploadField, string>>) => void;
}

/**
 * Parses `body`; rejects with VoiceError (not_multipart, file_too_large, unsupported_audio,
 * invalid_field, storage_failed, or what beforeFile throws). On rejection nothing is left on disk and the rest of the body is read and
 * dropped (so the client gets the answer rather than a reset connection).
 */
export function parseVoiceUpload(body: Readable, headers: Readonly<Record<string, string>>, options: ParseOptions): Promise<ParsedUpload> {
  const declared = Number(headers['content-length']);
  // Form fields and boundaries add little; a body far over the limit cannot hold an acceptable clip.
  if (Number.isFinite(declared) && declared > options.maxFileBytes + 64 * 1024) {
    body.resume();
    return Promise.reject(tooLarge(options.maxFileBytes));
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { ...headers, 'content-type': headers['content-type'] ?? '' },
      limits: { files: 1, fileSize: options.maxFileBytes, fields: 10, fieldSize: 4096, parts: 12 },
    });
  } catch {
    body.resume();
    return Promise.reject(new VoiceError(400, 'not_multipart', 'send the voice as multipart/form-data with an `audio` file and a `name` field'));
  }

  return new Promise<ParsedUpload>((resolve, reject) => {
    const fields: Partial<Record<UploadField, string>> = {};
    let file: string | null = null;
    let fileBytes = 0;
    let writing: Promise<void> = Promise.resolve();
    let out: WriteStream | null = null;
    let failed: VoiceError | null = null;

    const fail = (err: VoiceError): void => {
      if (failed) return;
      failed = err;
      // The file may be mid-write (a bad field after it started): stop it, then remove it.
      out?.destroy();
      body.unpipe(parser);
      body.resume();
      parser.removeAllListeners();
      parser.on('error', () => {});
      void writing.catch(() => {}).then(() => (file ? rm(file, { force: true }) : undefined)).finally(() => reject(err));
    };

    parser.on('field', (name, value, info) => {
      if (!(name in UPLOAD_FIELDS)) return;
      const limit = UPLOAD_FIELDS[name as UploadField];
      if (info.valueTruncated || value.length > limit) return fail(new VoiceError(400, 'invalid_field', `'${name}' is longer than ${limit} characters`, name));
      fields[name as UploadField] = value.trim();
    });

    parser.on('file', (name, stream) => {
      if (!FILE_FIELDS.has(name) || file || failed) {
        stream.resume();
        return;
      }
      try {
        options.beforeFile?.(fields);
      } catch (err) {
        stream.resume();
        if (err instanceof VoiceError) return fail(err);
        throw err;
      }
      file = options.tempPath;
      const sink = createWriteStream(file, { mode: 0o640 });
      out = sink;
      let head: Buffer | null = Buffer.alloc(0);
      writing = new Promise<void>((done, broke) => {
        sink.once('error', broke);
        // After 'finish' (all written) or a destroy (refused): the file is closed either way.
        sink.once('close', () => done());
      });
      stream.on('data', (chunk: Buffer) => {
        fileBytes += chunk.length;
        if (head) {
          head = Buffer.concat([head, chunk]);
          if (head.length >= SNIFF_BYTES) {
            if (!sniffAudio(head)) {
              stream.resume();
              return fail(new VoiceError(415, 'unsupported_audio', 'the audio file is not WAV, MP3, FLAC or Ogg (Vorbis or Opus) audio', 'audio'));
            }
            head = null;
          }
        }
        if (failed) return;
        if (!sink.write(chunk)) {
          stream.pause();
          sink.once('drain', () => stream.resume());
        }
      });
      stream.once('limit', () => fail(tooLarge(options.maxFileBytes)));
      stream.once('end', () => {
        if (failed) return;
        if (head && !sniffAudio(head)) return fail(new VoiceError(415, 'unsupported_audio', 'the audio file is not WAV, MP3, FLAC or Ogg (Vorbis or Opus) audio', 'audio'));
        sink.end();
      });
    });

    parser.once('error', (err: Error) => fail(new VoiceError(400, 'not_multipart', `the multipart body is malformed: ${err.message}`)));
    parser.once('close', () => {
      if (failed) return;
      writing.then(
        () => resolve({ fields, file, fileBytes }),
        (err: Error) => fail(new VoiceError(500, 'storage_failed', `the upload could not be written: ${err.message}`)),
      );
    });
    body.once('error', (err) => fail(new VoiceError(400, 'not_multipart', `the upload broke off: ${err.message}`)));
    body.pipe(parser);
  });
}

function tooLarge(max: number): VoiceError {
  return new VoiceError(413, 'file_too_large', `the audio file is larger than ${Math.round(max / 1024 / 1024)} MB (voices.max_upload_bytes); a reference needs only 5–30 s of audio`, 'audio');
}
