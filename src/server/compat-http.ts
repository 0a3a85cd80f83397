/**
 * The drop-in HTTP endpoints (Cartesia /tts/bytes and /tts/sse, ElevenLabs
 * /v1/text-to-speech/{voice}/stream, Deepgram POST /v1/speak) all do one thing: speak one text
 * as a one-turn Session and stream the audio into the response as it is produced. This is that
 * thing once; each protocol supplies its framing (raw, WAV header, SSE events) and its error
 * shape. Backpressure, client abort (the GPU requests are cancelled) and metrics as in the
 * OpenAI speech route.
 */
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { SessionFactory, SessionRequest } from '../session/factory.ts';
import type { Session, SessionErrorCode, SessionSink } from '../session/session.ts';
import type { HttpResponse } from './engine.ts';

/**
 * A message whose text ends a sentence: the drop-in front ends speak it at once (a flush)
 * rather than wait for the next text to rule out an abbreviation, since their clients send
 * whole sentences or phrases, not tokens (docs/compat.md, "Buffering").
 */
export const endsSentence = /[.!?。！？]["')\]]*\s*$/;

/** Reported by the sink while the response is blocked, so the session holds audio back. */
const BLOCKED = Number.MAX_SAFE_INTEGER;

export interface OneShotFraming {
  readonly contentType: string;
  /** Written once before the first audio (a streaming WAV header). */
  readonly preamble?: Uint8Array;
  /** Frames one piece of encoded audio for the body (SSE wraps it); default: as is. */
  audio?(frame: Uint8Array): Uint8Array | string;
  /** Anything to say after a segment (SSE timestamps). */
  segmentEnd?(index: number, text: string, audioMs: number): string | undefined;
  /** Written after the last audio (SSE done). */
  trailer?(): string | undefined;
  /** The error response while no byte has been sent: status and body (JSON). */
  refusal(code: SessionErrorCode, message: string): { status: number; body: string };
  /** An error after audio went out with a 200 (SSE error event); without it the response is cut off. */
  midStream?(code: SessionErrorCode, message: string): string | undefined;
}

export interface OneShotOptions {
  readonly sessions: SessionFactory;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly res: HttpResponse;
  /** Response headers every answer carries (x-request-id). */
  readonly head: Readonly<Record<string, string>>;
  readonly request: Omit<SessionRequest, 'sink'>;
  readonly text: string;
  readonly framing: OneShotFraming;
  /** For the log line. */
  readonly protocol: string;
}

/**
 * Starts the session and streams it. Throws what SessionFactory.create throws (SessionStartError:
 * unknown_voice, no_capacity, at_capacity) before anything was written, for the caller to answer.
 */
export function streamOneShot(options: OneShotOptions): void {
  const { res, framing, metrics, logger } = options;
  const startedAt = performance.now();
  let session: Session | null = null;
  let headSent = false;
  let finished = false;
  let blocked = false;
  let audioMs = 0;
  let firstByteMs = -1;
  const texts = new Map<number, string>();

  const finish = (outcome: 'ok' | 'client_error', status: number): void => {
    if (finished) return;
    finished = true;
    session?.close();
    metrics.sessionsActive.dec();
    metrics.sessionsTotal.inc({ outcome });
    logger.info(
      {
        protocol: options.protocol,
        request_id: options.request.id,
        instance: session?.pinId,
        voice: options.request.voice,
        characters: options.text.length,
        status,
        outcome,
        audio_seconds: Math.round(audioMs) / 1000,
        ttfb_ms: firstByteMs < 0 ? null : Math.round(firstByteMs),
        duration_ms: Math.round(performance.now() - startedAt),
      },
      'speech request',
    );
  };

  const onDrain = (): void => {
    blocked = false;
    session?.drained();
  };
  const write = (chunk: Uint8Array | string): void => {
    if (!res.write(chunk) && !blocked) {
      blocked = true;
      res.onDrain(onDrain);
    }
  };
  const sendHead = (): void => {
    headSent = true;
    res.writeHead(200, { ...options.head, 'content-type': framing.contentType, 'cache-control': 'no-store', 'x-accel-buffering': 'no', 'x-voicegate-instance': session?.pinId ?? '' });
    if (framing.preamble) write(framing.audio ? framing.audio(framing.preamble) : framing.preamble);
  };

  const sink: SessionSink = {
    segment(index, text) {
      if (framing.segmentEnd) texts.set(index, text);
    },
    audio(frame) {
      if (finished) return;
      if (!headSent) {
        firstByteMs = performance.now() - startedAt;
        sendHead();
      }
      write(framing.audio ? framing.audio(frame) : frame);
    },
    segmentEnd(index, ms) {
      audioMs += ms;
      if (finished || !framing.segmentEnd) return;
      const extra = framing.segmentEnd(index, texts.get(index) ?? '', ms);
      texts.delete(index);
      if (extra !== undefined && headSent) write(extra);
    },
    failover(index, from, to, reason) {
      logger.info({ protocol: options.protocol, request_id: options.request.id, index, from, to, reason }, 'speech segment failover');
    },
    waiting() {},
    draining() {},
    tooSlow(message) {
      // The client stopped reading: the response is cut off; the session already freed its slots.
      logger.warn({ protocol: options.protocol, request_id: options.request.id }, `speech client too slow: ${message}`);
      res.destroy();
      finish('client_error', 499);
    },
    turnEnd() {
      if (finished) return;
      if (!headSent) sendHead();
      const trailer = framing.trailer?.();
      if (trailer !== undefined) write(trailer);
      res.end();
      finish('ok', 200);
    },
    cancelled() {},
    mark() {},
    error(code, message) {
      if (finished) return;
      if (!headSent) {
        const refusal = framing.refusal(code, message);
        session?.cancel();
        res.writeHead(refusal.status, { ...options.head, 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(refusal.body);
        finish('ok', refusal.status);
        return;
      }
      // Audio already left with a 200: a response missing a sentence must not look whole. SSE
      // says so in an error event and ends; a raw body is cut off (a truncated body, never a
      // short 200), as the OpenAI speech route does.
      logger.warn({ protocol: options.protocol, request_id: options.request.id, code }, 'speech segment failed mid-response; response ended');
      session?.cancel();
      const event = framing.midStream?.(code, message);
      if (event !== undefined) {
        write(event);
        res.end();
      } else res.destroy();
      finish('client_error', 502);
    },
    bufferedAmount: () => (blocked ? BLOCKED : 0),
    cork: (fn) => fn(),
  };

  session = options.sessions.create({ ...options.request, sink });
  metrics.sessionsActive.inc();
  res.onAborted(() => {
    // The client left: abort in-flight synthesis so the GPU slots free at once.
    session?.cancel();
    finish('client_error', 499);
  });
  session.text(options.text);
  session.flush();
}
