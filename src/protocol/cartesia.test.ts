/**
 * The Cartesia codec across its two sides: what the backend sends parses as the front end and
 * the fake read it, and what they reply parses as the backend reads it. (Parse refusals and the
 * version reader: compat-codecs.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import {
  CartesiaError,
  cartesiaKeyOf,
  chunkReply,
  contextSuffix,
  doneReply,
  encodeCancel,
  encodeGeneration,
  errorReply,
  flushDoneReply,
  parseCartesiaMessage,
  parseReply,
  replyErrorText,
  timestampsReply,
  voiceField,
  type GenerationRequest,
} from './cartesia.ts';

const request: GenerationRequest = {
  model_id: 'sonic-3',
  voice: voiceField('voice-1', '2025-04-16'),
  output_format: { container: 'raw', encoding: 'pcm_mulaw', sample_rate: 8000 },
  context_id: 'ctx-1',
  language: 'fr',
  generation_config: { speed: 1.2 },
  transcript: 'Bonjour.',
  continue: false,
};

describe('Cartesia codec: requests (backend → front end, fake)', () => {
  it("the backend's generation request parses back to what it asked for", () => {
    expect(parseCartesiaMessage(encodeGeneration(request))).toEqual({
      kind: 'generate',
      contextId: 'ctx-1',
      transcript: 'Bonjour.',
      more: false,
      flush: false,
      modelId: 'sonic-3',
      voiceId: 'voice-1',
      format: { container: 'raw', encoding: 'pcm_mulaw', sampleRate: 8000 },
      language: 'fr',
      addTimestamps: false,
      maxBufferDelayMs: undefined,
      speed: 1.2,
    });
    expect(parseCartesiaMessage(encodeCancel('ctx-1'))).toEqual({ kind: 'cancel', contextId: 'ctx-1' });
  });

  it('the voice takes the {mode:"id"} form before 2026-08-14 and the plain {id} from it; both parse', () => {
    expect(voiceField('v', '2026-03-01')).toEqual({ mode: 'id', id: 'v' });
    expect(voiceField('v', '2026-08-14')).toEqual({ id: 'v' });
    expect(parseCartesiaMessage(encodeGeneration({ ...request, voice: voiceField('v', '2026-08-14') }))).toMatchObject({ voiceId: 'v' });
  });

  it('reads the key where each client generation puts it', () => {
    const key = (query: string, headers: Record<string, string | undefined>) => cartesiaKeyOf({ query: new URLSearchParams(query), headers });
    expect(key('', { 'x-api-key': 'a' })).toBe('a');
    expect(key('', { authorization: 'Bearer b' })).toBe('b');
    expect(key('api_key=c', {})).toBe('c');
    expect(key('access_token=d', {})).toBe('d');
    expect(key('', {})).toBeUndefined();
  });
});

describe('Cartesia codec: replies (front end, fake → backend)', () => {
  const suffix = contextSuffix('ctx-"1"');

  it('each reply carries type, done, status_code and the context id, as the official clients check', () => {
    const replies = [chunkReply('AAEC', 12.5, 1, suffix), flushDoneReply(1, suffix), timestampsReply({ words: ['Hi'], start: [0], end: [0.2] }, 2, suffix), doneReply(suffix)].map(parseReply);
    for (const reply of replies) expect(reply).toMatchObject({ context_id: 'ctx-"1"', status_code: 206 });
    expect(replies.map((r) => [r?.type, r?.done])).toEqual([
      ['chunk', false],
      ['flush_done', false],
      ['timestamps', false],
      ['done', true],
    ]);
    expect(replies[0]).toMatchObject({ data: 'AAEC', step_time: 12.5, flush_id: 1 });
  });

  it('writes an error in the shape asked for, and reads the words of each', () => {
    const err = new CartesiaError(429, 'Too Many Requests', 'over the limit', 'concurrency_limit', 'ctx-2');
    const both = parseReply(errorReply(err, true, 'req-1'))!;
    const current = parseReply(errorReply(err, true, 'req-1', 'current'))!;
    const legacy = parseReply(errorReply(err, true, 'req-1', 'legacy'))!;
    for (const reply of [both, current, legacy]) expect(reply).toMatchObject({ type: 'error', done: true, status_code: 429, context_id: 'ctx-2' });
    expect(both).toMatchObject({ title: 'Too Many Requests', message: 'over the limit', error: 'over the limit', error_code: 'concurrency_limit', request_id: 'req-1' });
    expect(current).toMatchObject({ title: 'Too Many Requests', error_code: 'concurrency_limit', request_id: 'req-1' });
    expect(current.error).toBeUndefined();
    expect(legacy).toEqual({ type: 'error', done: true, status_code: 429, error: 'over the limit', context_id: 'ctx-2' });
    expect(replyErrorText(current)).toBe('Too Many Requests: over the limit: (concurrency_limit)');
    expect(replyErrorText(legacy)).toBe('over the limit');
    expect(replyErrorText({ type: 'error' })).toBe('unknown error');
  });

  it('a frame that is not a JSON object is no reply', () => {
    expect(parseReply('not json')).toBeUndefined();
    expect(parseReply('[1]')).toBeUndefined();
    expect(parseReply('null')).toBeUndefined();
    expect(parseReply('"chunk"')).toBeUndefined();
  });
});
