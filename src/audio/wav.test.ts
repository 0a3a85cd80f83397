import { describe, expect, it } from 'vitest';
import { AudioFormatError } from './errors.ts';
import type { Pcm } from './format.ts';
import { concatSamples } from './samples.ts';
import { createWavDecoder, decodeWav, encodeWav, wavHeader, type WavDecoder } from './wav.ts';

function concat(parts: Pcm[]): Int16Array {
  return concatSamples(parts.map((p) => p.samples));
}

function ramp(n: number, seed = 1): Int16Array {
  const s = new Int16Array(n);
  for (let i = 0; i < n; i++) s[i] = ((i * 7919 * seed) % 65536) - 32768;
  return s;
}

function feed(decoder: WavDecoder, bytes: Uint8Array, cuts: number[]): Pcm[] {
  const out: Pcm[] = [];
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...decoder.push(bytes.subarray(prev, cut)));
    prev = cut;
  }
  decoder.end();
  return out;
}

/** Builds a RIFF file from raw chunks, optionally with placeholder sizes. */
function riff(chunks: Array<[string, Uint8Array, number?]>, riffSize?: number): Buffer {
  const bodies = chunks.map(([id, body, declared]) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(declared ?? body.length, 4);
    const pad = body.length & 1 && id !== 'data' ? Buffer.alloc(1) : Buffer.alloc(0);
    return Buffer.concat([h, body, pad]);
  });
  const payload = Buffer.concat(bodies);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(riffSize ?? payload.length + 4, 4);
  head.write('WAVE', 8, 'latin1');
  return Buffer.concat([head, payload]);
}

function fmtChunk(tag: number, channels: number, rate: number, bits: number, extensibleSub?: number): Buffer {
  const size = extensibleSub === undefined ? 16 : 40;
  const b = Buffer.alloc(size);
  b.writeUInt16LE(extensibleSub === undefined ? tag : 0xfffe, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(rate, 4);
  b.writeUInt32LE((rate * channels * bits) / 8, 8);
  b.writeUInt16LE((channels * bits) / 8, 12);
  b.writeUInt16LE(bits, 14);
  if (extensibleSub !== undefined) {
    b.writeUInt16LE(22, 16);
    b.writeUInt16LE(bits, 18);
    b.writeUInt32LE(channels === 2 ? 3 : 4, 20);
    b.writeUInt16LE(extensibleSub, 24);
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(b, 26);
  }
  return b;
}

function s16Bytes(samples: Int16Array): Buffer {
  const b = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => b.writeInt16LE(s, i * 2));
  return b;
}

describe('WAV decoder', () => {
  it('round-trips encodeWav output, 16-bit mono', () => {
    const samples = ramp(1001);
    const wav = encodeWav({ samples, sampleRate: 24000 });
    const pcm = decodeWav(wav);
    expect(pcm.sampleRate).toBe(24000);
    expect(Array.from(pcm.samples)).toEqual(Array.from(samples));
  });

  it('decodes identically when the stream is split at every byte boundary', () => {
    const samples = ramp(40, 3);
    const wav = riff([
      ['fmt ', fmtChunk(1, 1, 16000, 16)],
      ['LIST', Buffer.from('INFOISFT\x05\x00\x00\x00Lavf\x00', 'latin1')],
      ['data', s16Bytes(samples)],
    ]);
    for (let cut = 0; cut <= wav.length; cut++) {
      const d = createWavDecoder();
      const got = concat(feed(d, wav, [cut]));
      expect(Array.from(got), `cut at ${cut}`).toEqual(Array.from(samples));
      expect(d.format?.sampleRate).toBe(16000);
    }
    // and one byte at a time
    const d = createWavDecoder();
    const cuts = Array.from({ length: wav.length - 1 }, (_, i) => i + 1);
    expect(Array.from(concat(feed(d, wav, cuts)))).toEqual(Array.from(samples));
  });

  it('skips LIST and fact chunks (odd-sized, padded) before data', () => {
    const samples = ramp(10);
    const wav = riff([
      ['LIST', Buffer.from('abc')],
      ['fmt ', fmtChunk(1, 1, 8000, 16)],
      ['fact', Buffer.from([10, 0, 0, 0])],
      ['data', s16Bytes(samples)],
    ]);
    expect(Array.from(decodeWav(wav).samples)).toEqual(Array.from(samples));
  });

  it.each([
    ['zero sizes', 0, 0],
    ['0xFFFFFFFF sizes', 0xffffffff, 0xffffffff],
  ])('reads to end of stream when sizes are unknown (%s)', (_name, riffSize, dataSize) => {
    const samples = ramp(500);
    const wav = riff([['fmt ', fmtChunk(1, 1, 24000, 16)], ['data', s16Bytes(samples), dataSize]], riffSize);
    const d = createWavDecoder();
    const got = concat(feed(d, wav, [50, 51, 333, 700]));
    expect(d.format?.dataBytes).toBeNull();
    expect(Array.from(got)).toEqual(Array.from(samples));
  });

  it('stops at a known data size and ignores trailing chunks', () => {
    const samples = ramp(20);
    const wav = riff([['fmt ', fmtChunk(1, 1, 8000, 16)], ['data', s16Bytes(samples)], ['LIST', Buffer.from('trailing!')]]);
    const d = createWavDecoder();
    expect(concat(feed(d, wav, [30]))).toEqual(samples);
    expect(d.format?.dataBytes).toBe(40);
  });

  it('reads several WAV files back to back (one per sentence)', () => {
    const a = ramp(30, 1);
    const b = ramp(17, 2);
    const both = Buffer.concat([encodeWav({ samples: a, sampleRate: 22050 }), encodeWav({ samples: b, sampleRate: 22050 })]);
    for (const cut of [10, 44 + 60, 44 + 61, 44 + 60 + 5]) {
      expect(Array.from(concat(feed(createWavDecoder(), both, [cut])))).toEqual([...a, ...b]);
    }
  });

  it('decodes 32-bit float (format 3) and WAVE_FORMAT_EXTENSIBLE float', () => {
    const values = [0, 0.5, -0.5, 1, -1, 1.5, -2, 0.25];
    const expected = [0, 16384, -16384, 32767, -32768, 32767, -32768, 8192];
    const body = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => body.writeFloatLE(v, i * 4));
    for (const fmt of [fmtChunk(3, 1, 24000, 32), fmtChunk(0, 1, 24000, 32, 3)]) {
      const wav = riff([['fmt ', fmt], ['data', body]]);
      const d = createWavDecoder();
      const got = concat(feed(d, wav, [fmt.length + 20 + 8 + 3])); // split inside a float
      expect(Array.from(got)).toEqual(expected);
      expect(d.format?.kind).toBe('float');
    }
  });

  it('mixes stereo down to mono, with frames split across pushes', () => {
    const left = [1000, -2000, 32767, -32768, 3];
    const right = [3000, 2000, 32767, -32768, 4];
    const inter = new Int16Array(10);
    left.forEach((l, i) => {
      inter[2 * i] = l;
      inter[2 * i + 1] = right[i];
    });
    const wav = riff([['fmt ', fmtChunk(1, 2, 48000, 16)], ['data', s16Bytes(inter)]]);
    const got = concat(feed(createWavDecoder(), wav, [45, 47, 51]));
    expect(Array.from(got)).toEqual([2000, 0, 32767, -32768, 4]);
  });

  it('reads the G.711 WAVs it writes', () => {
    const samples = Int16Array.from([0, 1000, -1000, 32000, -32000]);
    for (const enc of ['pcm_mulaw', 'pcm_alaw', 'pcm_f32le'] as const) {
      const pcm = decodeWav(encodeWav({ samples, sampleRate: 8000 }, enc));
      for (let i = 0; i < samples.length; i++) expect(Math.abs(pcm.samples[i] - samples[i])).toBeLessThanOrEqual(enc === 'pcm_f32le' ? 0 : 1024);
    }
  });

  it('rejects non-WAV input with a typed error', () => {
    const d = createWavDecoder();
    const err = (() => {
      try {
        d.push(Buffer.from('{"error":"model not loaded"}'));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AudioFormatError);
    expect((err as AudioFormatError).code).toBe('not_wav');
  });

  it('rejects unsupported codecs and truncated streams', () => {
    const adpcm = riff([['fmt ', fmtChunk(2, 1, 8000, 4)], ['data', Buffer.alloc(10)]]);
    expect(() => decodeWav(adpcm)).toThrow(expect.objectContaining({ code: 'unsupported_format' }));
    const d = createWavDecoder();
    d.push(encodeWav({ samples: new Int16Array(4), sampleRate: 8000 }).subarray(0, 30));
    expect(() => d.end()).toThrow(expect.objectContaining({ code: 'truncated' }));
    expect(() => createWavDecoder().end()).toThrow(expect.objectContaining({ code: 'truncated' }));
  });
});

describe('wavHeader', () => {
  it('writes a canonical 44-byte PCM header with exact sizes', () => {
    const h = wavHeader(8000, 'pcm_s16le', 320);
    expect(h.length).toBe(44);
    expect(h.toString('latin1', 0, 4)).toBe('RIFF');
    expect(h.readUInt32LE(4)).toBe(36 + 320);
    expect(h.readUInt16LE(20)).toBe(1);
    expect(h.readUInt32LE(24)).toBe(8000);
    expect(h.readUInt32LE(28)).toBe(16000);
    expect(h.readUInt32LE(40)).toBe(320);
  });

  it('marks streaming headers with 0xFFFFFFFF sizes and tags G.711 and float formats', () => {
    const cases = [['pcm_f32le', 3, 4], ['pcm_alaw', 6, 1], ['pcm_mulaw', 7, 1]] as const;
    for (const [enc, tag, bps] of cases) {
      const h = wavHeader(8000, enc, null);
      expect(h.readUInt32LE(4)).toBe(0xffffffff);
      expect(h.readUInt16LE(20)).toBe(tag);
      expect(h.readUInt16LE(32)).toBe(bps);
      expect(h.toString('latin1', h.length - 8, h.length - 4)).toBe('data');
      expect(h.readUInt32LE(h.length - 4)).toBe(0xffffffff);
      // the decoder accepts it and reads to the end
      const d = createWavDecoder();
      d.push(h);
      expect(d.format?.dataBytes).toBeNull();
      expect(d.format?.formatTag).toBe(tag);
    }
  });
});
