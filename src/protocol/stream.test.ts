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
    expect(codeOf('{"type":"start","format":{"encoding":"mp3"}}')).toBe('unsupported_format');
    expect(codeOf('{"type":"start","format":{"sample_rate":11025}}')).toBe('unsupported_format');
    expect(codeOf('{"type":"start","frame_ms":-1}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","frame_ms":2.5}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","voice":7}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","speed":"fast"}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","speed":0.1}')).toBe('invalid_message');
    expect(codeOf('{"type":"start","speed":5}')).toBe('invalid_message');
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
