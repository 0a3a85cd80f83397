import { describe, expect, it } from 'vitest';
import { sine } from './analysis.ts';
import type { Encoding, OutputFormat, SampleRate } from './format.ts';
import { mulawDecode } from './g711.ts';
import { createAudioOutput } from './output.ts';

function collect(format: OutputFormat) {
  const frames: Uint8Array[] = [];
  const out = createAudioOutput(format, (f) => frames.push(f));
  return { frames, out };
}

describe('audio output', () => {
  it('24 kHz s16 → 8 kHz μ-law in exact 160-byte frames, tail padded with 0xFF', () => {
    const { frames, out } = collect({ encoding: 'pcm_mulaw', sampleRate: 8000, frameMs: 20 });
    const input = sine(440, 24000, 24000 * 0.5 + 123); // 0.5 s + 123 samples, fed in 10 ms chunks
    for (let i = 0; i < input.length; i += 240) out.write({ samples: input.subarray(i, i + 240), sampleRate: 24000 });
    out.end();
    const expectedSamples = Math.ceil((input.length * 8000) / 24000); // 4041
    expect(frames.length).toBe(Math.ceil(expectedSamples / 160));
    for (const f of frames) expect(f.length).toBe(160);
    const last = frames[frames.length - 1];
    const used = expectedSamples % 160;
    expect(Array.from(last.subarray(used)).every((b) => b === 0xff)).toBe(true);
    expect(out.emittedMs).toBe(frames.length * 20);
    // the audio is a 440 Hz tone, not silence or noise
    const decoded = mulawDecode(frames[10]);
    expect(Math.max(...decoded)).toBeGreaterThan(25000);
  });

  it.each([
    ['pcm_s16le', 16000, 20, 640],
    ['pcm_f32le', 24000, 10, 960],
    ['pcm_alaw', 8000, 30, 240],
    ['pcm_s16le', 22050, 20, 882],
  ] as const)('%s at %d Hz, %d ms frames are %d bytes', (encoding, rate, frameMs, bytes) => {
    const { frames, out } = collect({ encoding: encoding as Encoding, sampleRate: rate as SampleRate, frameMs });
    out.write({ samples: sine(500, 24000, 7777), sampleRate: 24000 });
    out.end();
    expect(frames.length).toBeGreaterThan(5);
    for (const f of frames) expect(f.length).toBe(bytes);
    if (encoding === 'pcm_alaw') expect(frames[frames.length - 1].at(-1)).toBe(0xd5);
    else expect(frames[frames.length - 1].at(-1)).toBe(0);
  });

  it('frame_ms 0: a same-format chunk goes out as a view of the backend chunk, once per chunk', () => {
    const { frames, out } = collect({ encoding: 'pcm_s16le', sampleRate: 24000, frameMs: 0 });
    const a = sine(300, 24000, 480);
    const b = sine(700, 24000, 480);
    out.write({ samples: a, sampleRate: 24000 });
    out.write({ samples: b, sampleRate: 24000 });
    out.end();
    expect(frames.length).toBe(2);
    expect(frames[0].length).toBe(960);
    // no copy: the bytes are the chunk's own (backends hand their chunks over)
    expect(frames[0].buffer).toBe(a.buffer);
    expect(Buffer.from(frames[0]).readInt16LE(20)).toBe(a[10]);
    expect(Buffer.from(frames[1]).readInt16LE(20)).toBe(b[10]);
  });

  it('s16 framing: whole frames are views, frames across chunks are copied, none is written after it is emitted', () => {
    const { frames, out } = collect({ encoding: 'pcm_s16le', sampleRate: 24000, frameMs: 20 }); // 480 samples
    const input = sine(440, 24000, 480 * 5 + 100);
    const cuts = [0, 700, 1500, 1980, input.length]; // chunks of 700, 800, 480, 520 samples
    const seen: Buffer[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      out.write({ samples: input.subarray(cuts[i], cuts[i + 1]), sampleRate: 24000 });
      for (let f = seen.length; f < frames.length; f++) seen.push(Buffer.from(frames[f]));
    }
    out.end();
    for (let f = seen.length; f < frames.length; f++) seen.push(Buffer.from(frames[f]));
    expect(frames.map((f) => f.length)).toEqual(Array(6).fill(960));
    expect(frames[0].buffer).toBe(input.buffer); // first chunk, first frame: a view
    // later writes never touched an emitted frame, and the stream is the input plus padding
    frames.forEach((f, i) => expect(Buffer.from(f).equals(seen[i])).toBe(true));
    const expected = Buffer.alloc(960 * 6);
    Buffer.from(input.buffer, input.byteOffset, input.byteLength).copy(expected);
    expect(Buffer.concat(frames).equals(expected)).toBe(true);
  });

  it('frames μ-law 8 kHz EncodedAudio without touching the bytes (Cartesia)', () => {
    const { frames, out } = collect({ encoding: 'pcm_mulaw', sampleRate: 8000, frameMs: 20 });
    const bytes = Uint8Array.from({ length: 250 }, (_, i) => i & 0xff);
    out.write({ encoding: 'pcm_mulaw', sampleRate: 8000, bytes: bytes.subarray(0, 100) });
    out.write({ encoding: 'pcm_mulaw', sampleRate: 8000, bytes: bytes.subarray(100) });
    out.end();
    expect(frames.map((f) => f.length)).toEqual([160, 160]);
    expect(Array.from(frames[0])).toEqual(Array.from(bytes.subarray(0, 160)));
    expect(Array.from(frames[1].subarray(0, 90))).toEqual(Array.from(bytes.subarray(160)));
    expect(frames[1].subarray(90).every((b) => b === 0xff)).toBe(true);
    // the sink owns its frames: changing the input afterwards does not change them
    bytes.fill(0);
    expect(frames[0][5]).toBe(5);
  });

  it('decodes EncodedAudio in another format (s16 24 kHz bytes split mid-sample)', () => {
    const { frames, out } = collect({ encoding: 'pcm_s16le', sampleRate: 24000, frameMs: 0 });
    const pcm = sine(200, 24000, 100);
    const bytes = Buffer.from(pcm.buffer);
    out.write({ encoding: 'pcm_s16le', sampleRate: 24000, bytes: bytes.subarray(0, 51) });
    out.write({ encoding: 'pcm_s16le', sampleRate: 24000, bytes: bytes.subarray(51) });
    out.end();
    expect(Buffer.concat(frames).equals(bytes)).toBe(true);
  });

  it('handles a new input rate between segments', () => {
    const { frames, out } = collect({ encoding: 'pcm_mulaw', sampleRate: 8000, frameMs: 20 });
    out.write({ samples: sine(300, 24000, 4800), sampleRate: 24000 }); // 200 ms
    out.end();
    out.write({ samples: sine(300, 22050, 4410), sampleRate: 22050 }); // 200 ms
    out.write({ samples: sine(300, 16000, 3200), sampleRate: 16000 }); // 200 ms, switches mid-segment
    out.end();
    expect(frames.length).toBe(30);
    expect(out.emittedMs).toBe(600);
    out.resetCount();
    expect(out.emittedMs).toBe(0);
  });

  it('reset drops buffered audio and the resampler history', () => {
    const { frames, out } = collect({ encoding: 'pcm_s16le', sampleRate: 8000, frameMs: 20 });
    // 409 samples at 8 kHz (1,300 / 3 less the filter delay): 2 frames out, the rest buffered
    out.write({ samples: sine(300, 24000, 1300), sampleRate: 24000 });
    expect(frames.length).toBe(2);
    out.reset();
    out.end(); // nothing left to pad
    expect(frames.length).toBe(2);
    out.write({ samples: new Int16Array(480), sampleRate: 24000 });
    out.end();
    expect(frames.length).toBe(3);
    expect(frames[2].every((b) => b === 0)).toBe(true);
  });
});
