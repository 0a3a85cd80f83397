import { describe, expect, it } from 'vitest';
import { defaultVoiceAliases } from '../session/voices.ts';
import {
  MAX_INPUT_CHARS,
  OpenAIError,
  isJsonContentType,
  listModels,
  listVoices,
  parseSpeechRequest,
  poolsForModel,
  sseAudioDelta,
  sseAudioDone,
  type PoolInfo,
} from './openai.ts';

const pool = (name: string, model: string, voices: string[], aliases: Record<string, string> = {}): PoolInfo => ({
  name,
  model,
  voices,
  voice_aliases: defaultVoiceAliases(voices, aliases),
  language: 'en',
});
const pools: PoolInfo[] = [pool('kokoro', 'kokoro', ['af_heart', 'am_adam'], { alloy: 'am_adam' }), pool('espeak', 'espeak', ['en-us', 'en-gb']), pool('kokoro-b', 'kokoro', ['bf_emma'])];
const bare: PoolInfo[] = pools.map((p) => ({ ...p, voice_aliases: {} }));

const parse = (body: unknown, contentType: string | undefined = 'application/json') =>
  parseSpeechRequest(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), contentType, pools);

function refusal(fn: () => unknown): OpenAIError {
  try {
    fn();
  } catch (err) {
    if (err instanceof OpenAIError) return err;
    throw err;
  }
  throw new Error('expected an OpenAIError');
}

describe('parseSpeechRequest', () => {
  it('accepts a minimal request with defaults: mp3 (as OpenAI), audio stream, speed 1', () => {
    const req = parse({ model: 'kokoro', input: 'Hello.', voice: 'am_adam' });
    expect(req).toMatchObject({ model: 'kokoro', pool: 'kokoro', voice: 'am_adam', poolVoice: 'am_adam', responseFormat: 'mp3', streamFormat: 'audio', speed: 1, input: 'Hello.' });
  });

  it('takes every OpenAI voice name through the pool aliases: the configured target, else the default voice', () => {
    expect(parse({ model: 'kokoro', input: 'x', voice: 'alloy' })).toMatchObject({ pool: 'kokoro', voice: 'alloy', poolVoice: 'am_adam' });
    expect(parse({ model: 'espeak', input: 'x', voice: 'cedar' })).toMatchObject({ pool: 'espeak', poolVoice: 'en-us' });
    expect(parse({ model: 'tts-1', input: 'x', voice: 'Ash' })).toMatchObject({ pool: 'kokoro', poolVoice: 'af_heart' });
    // A pool's own voice wins over an alias of the same name.
    const own = [pool('p', 'm', ['nova', 'x1'])];
    expect(parseSpeechRequest(Buffer.from(JSON.stringify({ model: 'm', input: 'x', voice: 'nova' })), undefined, own).poolVoice).toBe('nova');
    // Without aliases the OpenAI names are unknown (the default config always has them).
    const err = refusal(() => parseSpeechRequest(Buffer.from(JSON.stringify({ model: 'kokoro', input: 'x', voice: 'alloy' })), undefined, bare));
    expect([err.status, err.wireCode, err.param]).toEqual([400, 'unknown_voice', 'voice']);
  });

  it.each(['mp3', 'opus', 'flac', 'wav', 'pcm'])('accepts response_format %s', (format) => {
    expect(parse({ model: 'kokoro', input: 'x', response_format: format }).responseFormat).toBe(format);
  });

  it('takes the voice in its { id } form and the pcm/sse/speed options', () => {
    const req = parse({ model: 'espeak', input: 'Hi', voice: { id: 'en-gb' }, response_format: 'pcm', stream_format: 'sse', speed: 1.5 });
    expect(req).toMatchObject({ pool: 'espeak', voice: 'en-gb', responseFormat: 'pcm', streamFormat: 'sse', speed: 1.5 });
  });

  it('maps OpenAI model names to the pool serving the voice, else the first pool', () => {
    expect(parse({ model: 'tts-1', input: 'x', voice: 'en-us' }).pool).toBe('espeak');
    expect(parse({ model: 'gpt-4o-mini-tts-2025-12-15', input: 'x', voice: 'bf_emma' }).pool).toBe('kokoro-b');
    const noVoice = parse({ model: 'tts-1-hd', input: 'x' });
    expect(noVoice).toMatchObject({ pool: 'kokoro', voice: undefined, poolVoice: 'af_heart' });
  });

  it('prefers a pool name, then pools sharing a model (by voice)', () => {
    expect(parse({ model: 'kokoro-b', input: 'x' })).toMatchObject({ pool: 'kokoro-b', poolVoice: 'bf_emma' });
    expect(parse({ model: 'kokoro', input: 'x', voice: 'bf_emma' }).pool).toBe('kokoro-b');
  });

  it('answers 404 model_not_found for an unknown model', () => {
    const err = refusal(() => parse({ model: 'whisper-1', input: 'x', voice: 'af_heart' }));
    expect([err.status, err.wireCode, err.param, err.type]).toEqual([404, 'model_not_found', 'model', 'not_found_error']);
  });

  it.each([
    [{ input: 'x', voice: 'af_heart' }, 'model', 'missing_required_parameter'],
    [{ model: 'kokoro', voice: 'af_heart' }, 'input', 'missing_required_parameter'],
    [{ model: 'kokoro', input: '   ', voice: 'af_heart' }, 'input', 'invalid_value'],
    [{ model: 'kokoro', input: 42, voice: 'af_heart' }, 'input', 'invalid_type'],
    [{ model: 'kokoro', input: 'x', voice: 'no-such-voice' }, 'voice', 'unknown_voice'],
    [{ model: 'kokoro', input: 'x', voice: ['af_heart'] }, 'voice', 'invalid_type'],
    [{ model: 'kokoro', input: 'x', response_format: 'aac' }, 'response_format', 'unsupported_response_format'],
    [{ model: 'kokoro', input: 'x', response_format: 'ogg' }, 'response_format', 'invalid_value'],
    [{ model: 'kokoro', input: 'x', stream_format: 'chunks' }, 'stream_format', 'invalid_value'],
    [{ model: 'kokoro', input: 'x', speed: 0.2 }, 'speed', 'invalid_value'],
    [{ model: 'kokoro', input: 'x', speed: 4.01 }, 'speed', 'invalid_value'],
    [{ model: 'kokoro', input: 'x', speed: '1' }, 'speed', 'invalid_type'],
  ])('400 invalid_request_error naming the param: %j', (body, param, code) => {
    const err = refusal(() => parse(body));
    expect(err.status).toBe(400);
    expect(err.type).toBe('invalid_request_error');
    expect(err.param).toBe(param);
    expect(err.wireCode).toBe(code);
    expect(JSON.parse(err.body())).toEqual({ error: { message: err.message, type: 'invalid_request_error', param, code } });
  });

  it('lists the supported formats when refusing aac', () => {
    expect(refusal(() => parse({ model: 'kokoro', input: 'x', response_format: 'aac' })).message).toContain('supported: mp3, opus, flac, wav, pcm');
  });

  it('counts input in characters (code points), up to 4096', () => {
    const emoji = '\u{1F600}';
    expect(parse({ model: 'kokoro', input: emoji.repeat(MAX_INPUT_CHARS) }).input.length).toBe(2 * MAX_INPUT_CHARS);
    expect(refusal(() => parse({ model: 'kokoro', input: emoji.repeat(MAX_INPUT_CHARS + 1) })).wireCode).toBe('string_above_max_length');
    expect(refusal(() => parse({ model: 'kokoro', input: 'a'.repeat(MAX_INPUT_CHARS + 1) })).param).toBe('input');
    expect(parse({ model: 'kokoro', input: 'a'.repeat(MAX_INPUT_CHARS) }).input.length).toBe(MAX_INPUT_CHARS);
  });

  it('refuses bodies that are not a JSON object (400) and non-JSON content types (415)', () => {
    expect(refusal(() => parse('{"model":')).status).toBe(400);
    expect(refusal(() => parse('[1,2]')).wireCode).toBe('invalid_json');
    expect(refusal(() => parseSpeechRequest(null, 'application/json', pools)).status).toBe(400);
    const err = refusal(() => parse({ model: 'kokoro', input: 'x' }, 'application/x-www-form-urlencoded'));
    expect([err.status, err.wireCode]).toEqual([415, 'unsupported_media_type']);
  });

  it('ignores unknown fields (Kokoro-FastAPI clients send stream, lang_code)', () => {
    expect(parse({ model: 'kokoro', input: 'x', stream: true, lang_code: 'a' }).pool).toBe('kokoro');
  });
});

describe('isJsonContentType', () => {
  it.each([
    ['application/json', true],
    ['application/json; charset=utf-8', true],
    ['Application/JSON', true],
    ['application/vnd.api+json', true],
    [undefined, true],
    ['text/plain', false],
    ['multipart/form-data; boundary=x', false],
  ])('%s → %s', (type, ok) => expect(isJsonContentType(type)).toBe(ok));
});

describe('models and voices', () => {
  it('lists one model per distinct pool model', () => {
    expect(listModels(pools, 123)).toEqual({
      object: 'list',
      data: [
        { id: 'kokoro', object: 'model', created: 123, owned_by: 'voicegate' },
        { id: 'espeak', object: 'model', created: 123, owned_by: 'voicegate' },
      ],
    });
  });

  it('lists voices per pool, filtered by model', () => {
    expect(listVoices(bare, null).data.map((v) => v.id)).toEqual(['af_heart', 'am_adam', 'en-us', 'en-gb', 'bf_emma']);
    const kokoro = listVoices(bare, 'kokoro');
    expect(kokoro.data.map((v) => `${v.pool}/${v.id}`)).toEqual(['kokoro/af_heart', 'kokoro/am_adam', 'kokoro-b/bf_emma']);
    expect(kokoro.voices[0]).toEqual({ id: 'af_heart', name: 'af_heart' });
    expect(() => listVoices(pools, 'nope')).toThrow(OpenAIError);
    expect(poolsForModel(pools, 'tts-1').length).toBe(3);
  });

  it('lists each pool\'s aliases after its voices, with the voice each maps to', () => {
    const espeak = listVoices(pools, 'espeak').data;
    expect(espeak.slice(0, 2).map((v) => [v.id, v.alias_of])).toEqual([['en-us', undefined], ['en-gb', undefined]]);
    expect(espeak.find((v) => v.id === 'alloy')).toMatchObject({ alias_of: 'en-us', pool: 'espeak' });
    expect(espeak.filter((v) => v.alias_of !== undefined).map((v) => v.id)).toEqual(['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'onyx', 'nova', 'sage', 'shimmer', 'verse', 'marin', 'cedar']);
    expect(listVoices(pools, 'kokoro').data.find((v) => v.pool === 'kokoro' && v.id === 'alloy')?.alias_of).toBe('am_adam');
  });
});

describe('SSE events', () => {
  it('delta carries base64 audio of exactly the frame (not its whole buffer)', () => {
    const backing = new Uint8Array([9, 1, 2, 3, 9]);
    const event = sseAudioDelta(backing.subarray(1, 4));
    expect(event.endsWith('\n\n')).toBe(true);
    const data = JSON.parse(event.slice('data: '.length));
    expect(data.type).toBe('speech.audio.delta');
    expect([...Buffer.from(data.audio, 'base64')]).toEqual([1, 2, 3]);
  });

  it('done carries usage', () => {
    const data = JSON.parse(sseAudioDone(40, 2000).slice('data: '.length));
    expect(data).toEqual({ type: 'speech.audio.done', usage: { input_tokens: 10, output_tokens: 100, total_tokens: 110, input_characters: 40, audio_ms: 2000 } });
  });
});
