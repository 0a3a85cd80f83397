/**
 * The conformance suite every AudioEncoder runs (encoder.ts): the stream decodes with a real
 * decoder to the audio given (exactly for lossless formats, a clean tone for lossy ones), audio
 * leaves as it is produced rather than at the end, flush() pushes out what was given without
 * breaking the stream, an empty stream is valid, returned bytes belong to the caller, and a rate
 * the format cannot take is refused.
 *
 * Usage (in a *.test.ts): runEncoderConformance('mp3', { lossless: false });
 */
import { describe, expect, it } from 'vitest';
import { sine, sineFitSnrDb } from '../analysis.ts';
import { decodeAudio, rmsOf } from './decoders.testing.ts';
import { EncoderError, concatBytes, type EncoderFormat } from './encoder.ts';
import { createEncoder } from './index.ts';

export interface EncoderConformanceOptions {
  /** Decoded samples equal the input exactly. */
  readonly lossless: boolean;
  /** A rate the format refuses (omit when it takes any). */
  readonly unsupportedRate?: number;
  /** Samples of padding/delay a decoder may add or trim at each end (lossy frames). Default 0. */
  readonly slackSamples?: number;
}

const RATE = 24000;
const TONE = 440;

/** Feeds `samples` in irregular chunks (as backends deliver them), collecting each output. */
function encodeChunked(format: EncoderFormat, samples: Int16Array, chunks: readonly number[]): { parts: Uint8Array[]; end: Uint8Array } {
  const encoder = createEncoder(format, { sampleRate: RATE });
  const parts: Uint8Array[] = [];
  let offset = 0;
  let i = 0;
  while (offset < samples.length) {
    const n = Math.min(chunks[i++ % chunks.length]!, samples.length - offset);
    parts.push(encoder.encode(samples.subarray(offset, offset + n)));
    offset += n;
  }
  const end = encoder.end();
  encoder.close();
  return { parts, end };
}

export function runEncoderConformance(format: EncoderFormat, options: EncoderConformanceOptions): void {
  const slack = options.slackSamples ?? 0;

  describe(`${format} encoder (conformance)`, () => {
    it('a stream fed in irregular chunks decodes with a real decoder to the audio given', async () => {
      const input = sine(TONE, RATE, RATE, 12000); // 1 s
      const { parts, end } = encodeChunked(format, input, [37, 480, 4800, 1, 2399]);
      const decoded = await decodeAudio(format, concatBytes([...parts, end]), RATE);
      expect(decoded.errors).toEqual([]);
      const scale = decoded.sampleRate / RATE;
      expect(Math.abs(decoded.samples.length - input.length * scale)).toBeLessThanOrEqual(slack * scale);
      if (options.lossless) {
        expect(decoded.sampleRate).toBe(RATE);
        const back = Int16Array.from(decoded.samples, (v) => Math.round(v * 32768));
        expect(back).toEqual(input);
      } else {
        // The middle of the tone: clean (SNR) and at the level given (within 2 dB).
        const from = Math.round(0.2 * decoded.samples.length);
        const to = Math.round(0.8 * decoded.samples.length);
        expect(sineFitSnrDb(decoded.samples, decoded.sampleRate, TONE, from, to)).toBeGreaterThan(20);
        const level = rmsOf(decoded.samples, from, to) / (12000 / 32768 / Math.SQRT2);
        expect(Math.abs(20 * Math.log10(level))).toBeLessThan(2);
      }
    });

    it('audio leaves as it is produced: what encode() returned before end() holds nearly all of it', async () => {
      const input = sine(TONE, RATE, 2 * RATE, 12000);
      const { parts } = encodeChunked(format, input, [4800]);
      // Without the end: the bytes a client has while the last segment is still synthesizing.
      const decoded = await decodeAudio(format, concatBytes(parts), RATE);
      const seconds = decoded.samples.length / decoded.sampleRate;
      expect(seconds).toBeGreaterThan(1.8);
    });

    it('flush() pushes out every sample so far, and the stream goes on decoding as one', async () => {
      const encoder = createEncoder(format, { sampleRate: RATE });
      const first = sine(TONE, RATE, 7001, 12000); // not a multiple of any frame size
      const before = concatBytes([encoder.encode(first), encoder.flush()]);
      const partial = await decodeAudio(format, before, RATE);
      const scale = partial.sampleRate / RATE;
      expect(partial.samples.length).toBeGreaterThanOrEqual((first.length - slack) * scale);
      const second = sine(TONE, RATE, 12000, 12000);
      const rest = concatBytes([encoder.encode(second), encoder.end()]);
      const whole = await decodeAudio(format, concatBytes([before, rest]), RATE);
      expect(whole.errors).toEqual([]);
      expect(whole.samples.length).toBeGreaterThanOrEqual((first.length + second.length - slack) * scale);
      // The second part is audio, not silence: its energy reached the decoder.
      const tail = whole.samples.length - Math.round(6000 * scale);
      expect(rmsOf(whole.samples, tail - Math.round(4000 * scale), tail)).toBeGreaterThan(0.1);
    });

    it('discard() drops audio not yet returned, and the stream goes on decoding', async () => {
      const encoder = createEncoder(format, { sampleRate: RATE });
      const kept = concatBytes([encoder.encode(sine(TONE, RATE, 4800, 12000)), encoder.flush()]);
      const before = (await decodeAudio(format, kept, RATE)).samples.length;
      // 120 ms of loud audio, cancelled before the encoder returned all of it (2870: not a
      // multiple of any frame size, so a part waits in the encoder).
      const dropped = encoder.encode(sine(TONE, RATE, 2870, 30000));
      encoder.discard();
      // Quiet tone rather than digital silence: a tiny all-zero last FLAC frame is valid (libFLAC
      // decodes it) but the npm FLAC decoder skips it.
      const rest = concatBytes([encoder.encode(sine(TONE, RATE, 9600, 300)), encoder.end()]);
      const whole = await decodeAudio(format, concatBytes([kept, dropped, rest]), RATE);
      expect(whole.errors).toEqual([]);
      const scale = whole.sampleRate / RATE;
      // The audio after the discard came through …
      expect(whole.samples.length).toBeGreaterThanOrEqual(before + Math.round((9600 - slack) * scale));
      // … and of the loud part, no more than the encoder had already returned (plus its delay).
      const loud = (samples: Float32Array) => samples.subarray(before).filter((v) => Math.abs(v) > 0.5).length;
      const returned = loud((await decodeAudio(format, concatBytes([kept, dropped]), RATE)).samples);
      expect(loud(whole.samples)).toBeLessThanOrEqual(returned + Math.round(0.7 * slack * scale));
    });

    it('a stream with no audio ends as a valid, empty stream', async () => {
      const encoder = createEncoder(format, { sampleRate: RATE });
      const bytes = encoder.end();
      const decoded = await decodeAudio(format, bytes, RATE);
      expect(decoded.errors).toEqual([]);
      expect(decoded.samples.length / decoded.sampleRate).toBeLessThan(0.1);
      expect(encoder.end().length).toBe(0);
      encoder.close();
      encoder.close();
    });

    it('returned bytes belong to the caller: later calls and input reuse do not change them', () => {
      const encoder = createEncoder(format, { sampleRate: RATE });
      const input = sine(TONE, RATE, 9600, 12000);
      const out = encoder.encode(input);
      const copy = out.slice();
      input.fill(0);
      encoder.encode(sine(1000, RATE, 9600, 20000));
      encoder.flush();
      expect(out).toEqual(copy);
      encoder.close();
    });

    if (options.unsupportedRate !== undefined) {
      it(`refuses ${options.unsupportedRate} Hz with an EncoderError naming the rates it takes`, () => {
        expect(() => createEncoder(format, { sampleRate: options.unsupportedRate! })).toThrow(EncoderError);
      });
    }
  });
}
