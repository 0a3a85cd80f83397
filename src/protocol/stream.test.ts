import { describe, expect, it } from 'vitest';
import { parseClientMessage, type ProtocolError } from './stream.ts';

const codeOf = (frame: string) => {
  try {
    parseClientMessage(frame);
  } catch (err) {
    return (err as ProtocolError).code;
  }
  return 'ok';
};

describe('parseClientMessage', () => {
  it('parses start with defaults', () => {
    expect(parseClientMessage('{"type":"start"}')).toEqual({ type: 'start', mode: 'native', voice: undefined, language: undefined, encoding: 'pcm_s16le', sampleRate: 24000, frameMs: 0 });
  });

  it('parses a full start', () => {
    const msg = parseClientMessage('{"type":"start","voice":"af_heart","language":"en","format":{"encoding":"pcm_mulaw","sample_rate":8000},"frame_ms":20}');
    expect(msg).toMatchObject({ voice: 'af_heart', language: 'en', encoding: 'pcm_mulaw', sampleRate: 8000, frameMs: 20 });
    expect(parseClientMessage('{"type":"start","speed":1.5}')).toMatchObject({ speed: 1.5 });
  });

  it('takes mp3 and opus as compressed streams over s16le at the rate asked', () => {
    expect(parseClientMessage('{"type":"start","format":{"encoding":"mp3","sample_rate":44100}}')).toMatchObject({ container: 'mp3', encoding: 'pcm_s16le', sampleRate: 44100 });
    expect(parseClientMessage('{"type":"start","format":{"encoding":"opus"}}')).toMatchObject({ container: 'opus', encoding: 'pcm_s16le', sampleRate: 24000 });
    expect(parseClientMessage('{"type":"start","format":{"encoding":"pcm_alaw"}}')).not.toHaveProperty('container');
  });

  it('parses text, flush, cancel, mark', () => {
    expect(parseClientMessage('{"type":"text","text":"Hi, "}')).toEqual({ type: 'text', text: 'Hi, ' });
    expect(parseClientMessage('{"type":"flush"}').type).toBe('flush');
    expect(parseClientMessage('{"type":"cancel"}').type).toBe('cancel');
    expect(parseClientMessage('{"type":"mark","name":"m1"}')).toEqual({ type: 'mark', name: 'm1' });
  });

  it('names what is wrong', () => {
    expect(codeOf('nope')).toBe('invalid_json');
    expect(codeOf('[1,2]')).toBe('invalid_message');
    expect(codeOf('{"text":"x"}')).toBe('invalid_message');
    expect(codeOf('{"type":"sing"}')).toBe('unknown_type');
    expect(codeOf('{"type":"text","text":5}')).toBe('invalid_message');
    expect(codeOf('{"type":"mark"}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","format":{"encoding":"aac"}}')).toBe('unsupported_format');
    expect(codeOf('{"type":"start","format":{"encoding":"opus","sample_rate":44100}}')).toBe('unsupported_format');
    expect(codeOf('{"type":"start","mode":"twilio","stream_sid":"MZ1","format":{"encoding":"mp3"}}')).toBe('unsupported_format');
    expect(codeOf('{"type":"start","format":{"sample_rate":11025}}')).toBe('unsupported_format');
    expect(codeOf('{"type":"start","frame_ms":-1}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","frame_ms":2.5}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","voice":7}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","speed":"fast"}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","speed":0.1}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","speed":5}')).toBe('invalid_message');
  });

  it('frame_ms: 0 (as produced) or 10 to 1000; shorter frames would only multiply messages', () => {
    expect(codeOf('{"type":"start","frame_ms":1}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","frame_ms":9}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","frame_ms":1001}')).toBe('invalid_message');
    expect(parseClientMessage('{"type":"start","frame_ms":0}')).toMatchObject({ frameMs: 0 });
    expect(parseClientMessage('{"type":"start","frame_ms":10}')).toMatchObject({ frameMs: 10 });
    expect(parseClientMessage('{"type":"start","frame_ms":1000}')).toMatchObject({ frameMs: 1000 });
    expect(() => parseClientMessage('{"type":"start","frame_ms":5}')).toThrow(/0 \(audio as produced\) or an integer from 10 to 1000/);
  });

  it('twilio mode forces μ-law 8 kHz in 20 ms frames and needs a streamSid', () => {
    expect(parseClientMessage('{"type":"start","mode":"twilio","stream_sid":"MZ123"}')).toMatchObject({ mode: 'twilio', streamSid: 'MZ123', encoding: 'pcm_mulaw', sampleRate: 8000, frameMs: 20 });
    expect(codeOf('{"type":"start","mode":"twilio"}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","mode":"twilio","stream_sid":"MZ\\"x"}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","mode":"twilio","stream_sid":"MZ1","format":{"encoding":"pcm_s16le"}}')).toBe('unsupported_format');
    expect(codeOf('{"type":"start","mode":"carrier-pigeon"}')).toBe('invalid_message');
  });

  it('accepts Twilio-shaped clear and mark from a bridge', () => {
    expect(parseClientMessage('{"event":"clear","streamSid":"MZ1"}').type).toBe('cancel');
    expect(parseClientMessage('{"event":"mark","streamSid":"MZ1","mark":{"name":"u1"}}')).toEqual({ type: 'mark', name: 'u1' });
    expect(codeOf('{"event":"mark","mark":{}}')).toBe('invalid_message');
  });
});
