/** Unit tests of the drop-in codecs' pure parts: voice mapping, timing estimates, formats, parse errors. */
import { describe, expect, it } from 'vitest';
import { CartesiaError, cartesiaVersionOf, parseCartesiaMessage, parseOutputFormat as cartesiaFormat } from './cartesia.ts';
import { DeepgramError, parseDeepgramMessage, parseFormat as deepgramFormat } from './deepgram.ts';
import { ElevenLabsError, parseElevenLabsMessage, parseOutputFormat as elevenLabsFormat } from './elevenlabs.ts';
import { estimateCharAlignment, estimateWordTimestamps } from './timestamps.ts';
import { SessionStartError } from '../session/errors.ts';
import { defaultVoiceAliases } from '../session/voices.ts';
import { createVoiceResolver } from './voice-map.ts';
import type { RequestInfo } from '../server/engine.ts';

describe('voice map', () => {
  it('mapped ids map, pool voices pass through, the rest take default or are unknown', () => {
    const pools = [{ voices: ['af_heart', 'am_adam'] }];
    const strict = createVoiceResolver({ 'uuid-1': 'af_heart' }, pools);
    expect(strict('uuid-1')).toBe('af_heart');
    expect(strict('am_adam')).toBe('am_adam');
    expect(strict(undefined)).toBeUndefined();
    expect(() => strict('uuid-2')).toThrow(expect.objectContaining({ code: 'unknown_voice' }));
    expect(() => strict('uuid-2')).toThrow(SessionStartError);
    const lenient = createVoiceResolver({ default: 'am_adam' }, pools);
    expect(lenient('uuid-2')).toBe('am_adam');
    expect(lenient('af_heart')).toBe('af_heart');
    // Inherited object keys are not mappings.
    expect(() => strict('toString')).toThrow(/unknown voice/);
  });

  it("a pool's voice alias (OpenAI's names) passes through, ahead of the map's default", () => {
    const pools = [{ voices: ['af_heart', 'am_adam'], voice_aliases: defaultVoiceAliases(['af_heart', 'am_adam'], { onyx: 'am_adam' }) }];
    const strict = createVoiceResolver({}, pools);
    expect(strict('alloy')).toBe('alloy');
    expect(strict('Onyx')).toBe('Onyx');
    expect(createVoiceResolver({ default: 'am_adam' }, pools)('ash')).toBe('ash');
    expect(() => strict('toString')).toThrow(/unknown voice/);
    expect(() => strict('constructor')).toThrow(/unknown voice/);
  });
});

describe('timing estimates', () => {
  it('words spread over the segment in proportion to their characters, offset by what came before', () => {
    const t = estimateWordTimestamps('Hi there.', 1000, 900);
    expect(t.words).toEqual(['Hi', 'there.']);
    expect(t.start).toEqual([1, 1.3]);
    expect(t.end).toEqual([1.2, 1.9]);
  });

  it('character durations add up to the segment', () => {
    const a = estimateCharAlignment('héllo', 0, 500);
    expect(a.chars).toEqual(['h', 'é', 'l', 'l', 'o']);
    expect(a.charDurationsMs.reduce((x, y) => x + y, 0)).toBe(500);
    expect(a.charStartTimesMs).toEqual([0, 100, 200, 300, 400]);
  });
});

const request = (query: string, headers: Record<string, string> = {}): RequestInfo => ({ method: 'GET', path: '/tts/websocket', query: new URLSearchParams(query), headers, remoteAddress: '127.0.0.1' });

describe('Cartesia codec', () => {
  it('parses a generation and a cancel; refuses what the server would, with the context id', () => {
    const msg = parseCartesiaMessage(JSON.stringify({ context_id: 'c1', transcript: 'Hi.', continue: true, voice: { mode: 'id', id: 'v' }, output_format: { container: 'raw', encoding: 'pcm_mulaw', sample_rate: 8000 }, generation_config: { speed: 1.2 } }));
    expect(msg).toMatchObject({ kind: 'generate', contextId: 'c1', more: true, voiceId: 'v', format: { encoding: 'pcm_mulaw', sampleRate: 8000 }, speed: 1.2 });
    expect(parseCartesiaMessage('{"context_id":"c1","cancel":true}')).toEqual({ kind: 'cancel', contextId: 'c1' });
    expect(() => parseCartesiaMessage('{"context_id":"c2","transcript":5}')).toThrow(expect.objectContaining({ status: 400, contextId: 'c2' }));
    expect(() => cartesiaFormat({ container: 'mp3', sample_rate: 44100 }, ['raw', 'wav'])).toThrow(/supported: raw, wav/);
    expect(() => cartesiaFormat({ container: 'raw', encoding: 'pcm_s16le', sample_rate: 11025 }, ['raw'])).toThrow(CartesiaError);
  });

  it('takes the version from the query first, then the header', () => {
    expect(cartesiaVersionOf(request('cartesia_version=2025-04-16', { 'cartesia-version': '2024-06-10' }))).toBe('2025-04-16');
    expect(cartesiaVersionOf(request('', { 'cartesia-version': '2024-06-10' }))).toBe('2024-06-10');
    expect(() => cartesiaVersionOf(request('cartesia_version=latest'))).toThrow(CartesiaError);
  });
});

describe('ElevenLabs codec', () => {
  it('maps output formats: pcm, μ-law, mp3 at its rate (the default mp3_44100_128 too); others are refused naming what works', () => {
    expect(elevenLabsFormat('pcm_44100')).toMatchObject({ encoding: 'pcm_s16le', sampleRate: 44100 });
    expect(elevenLabsFormat('ulaw_8000')).toMatchObject({ encoding: 'pcm_mulaw', sampleRate: 8000 });
    expect(elevenLabsFormat('mp3_22050_32')).toMatchObject({ container: 'mp3', sampleRate: 22050, contentType: 'audio/mpeg' });
    expect(elevenLabsFormat(null)).toMatchObject({ container: 'mp3', sampleRate: 44100 });
    expect(() => elevenLabsFormat('opus_48000_64')).toThrow(/supported: pcm_8000.*ulaw_8000.*mp3_44100_\*/);
    expect(() => elevenLabsFormat('mp3_11025_32')).toThrow(ElevenLabsError);
    expect(() => elevenLabsFormat('pcm_11025')).toThrow(ElevenLabsError);
  });

  it('reads snake_case messages and the key in the first message', () => {
    expect(parseElevenLabsMessage('{"text":" ","context_id":"a","xi_api_key":"k","voice_settings":{"speed":0.9}}')).toMatchObject({ text: ' ', contextId: 'a', apiKey: 'k', speed: 0.9 });
    expect(parseElevenLabsMessage('{"context_id":"a","close_context":true}')).toMatchObject({ closeContext: true, text: undefined });
    expect(() => parseElevenLabsMessage('{"context_id":"a"}')).toThrow(/needs text, flush/);
  });
});

describe('Deepgram codec', () => {
  it('parses the four messages and refuses others', () => {
    expect(parseDeepgramMessage('{"type":"Speak","text":"Hi"}')).toEqual({ type: 'Speak', text: 'Hi' });
    expect(parseDeepgramMessage('{"type":"Clear"}')).toEqual({ type: 'Clear' });
    expect(() => parseDeepgramMessage('{"type":"Speak"}')).toThrow(DeepgramError);
    expect(() => parseDeepgramMessage(JSON.stringify({ type: 'Speak', text: 'x'.repeat(2001) }))).toThrow(/2000/);
  });

  it('WebSocket defaults to linear16 24 kHz raw; REST defaults to mp3 (refused) in a WAV container', () => {
    expect(deepgramFormat(new URLSearchParams(''), false)).toMatchObject({ encoding: 'pcm_s16le', sampleRate: 24000, wav: false });
    expect(deepgramFormat(new URLSearchParams('encoding=mulaw'), true)).toMatchObject({ encoding: 'pcm_mulaw', sampleRate: 8000, wav: true });
    expect(() => deepgramFormat(new URLSearchParams(''), true)).toThrow(/mp3.*supported: linear16, mulaw, alaw/);
    expect(() => deepgramFormat(new URLSearchParams('encoding=alaw&sample_rate=24000'), false)).toThrow(DeepgramError);
    expect(() => deepgramFormat(new URLSearchParams('container=wav'), false)).toThrow(DeepgramError);
  });
});
