/**
 * The output path for compressed `/v1/stream` formats (mp3, opus): resampled audio goes
 * through the encoder; a segment end flushes it (its audio leaves before segment_end); a reset
 * (barge-in) discards what it holds; the bytes of many segments decode as one stream.
 */
import { describe, expect, it } from 'vitest';
import { sine, sineFitSnrDb } from './analysis.ts';
import { decodeAudio, rmsOf } from './encoders/decoders.testing.ts';
import { concatBytes } from './encoders/encoder.ts';
import type { Container, SampleRate } from './format.ts';
import { createAudioOutput } from './output.ts';

function collect(container: Container, sampleRate: SampleRate) {
  const frames: Uint8Array[] = [];
  const out = createAudioOutput({ encoding: 'pcm_s16le', sampleRate, frameMs: 20, container }, (f) => frames.push(f));
  return { frames, out };
}

describe.each(['mp3', 'opus'] as const)('%s output', (container) => {
  it('two segments from a 22.05 kHz backend, resampled to 48 kHz, decode as one stream of both', async () => {
    const { frames, out } = collect(container, 48000);
    for (let seg = 0; seg < 2; seg++) {
      const tone = sine(440, 22050, 22050 * 0.6, 12000);
      for (let i = 0; i < tone.length; i += 2205) out.write({ samples: tone.subarray(i, i + 2205), sampleRate: 22050 });
      const before = frames.length;
      out.end();
      // The segment's audio has left by its end (segment_end follows it).
      expect(frames.length).toBeGreaterThan(before);
      expect(out.emittedMs).toBeGreaterThanOrEqual(599);
      out.resetCount();
    }
    const decoded = await decodeAudio(container, concatBytes(frames), 48000);
    expect(decoded.errors).toEqual([]);
    expect(decoded.samples.length / decoded.sampleRate).toBeGreaterThan(1.15);
    const n = decoded.samples.length;
    expect(sineFitSnrDb(decoded.samples, decoded.sampleRate, 440, Math.round(n * 0.1), Math.round(n * 0.4))).toBeGreaterThan(15);
  });

  it('a reset (barge-in) drops what the encoder holds: the loud cancelled tail is not heard', async () => {
    const { frames, out } = collect(container, 24000);
    out.write({ samples: sine(440, 24000, 2870, 30000), sampleRate: 24000 });
    const sentBeforeCancel = frames.length;
    out.reset();
    out.write({ samples: new Int16Array(4800).fill(0), sampleRate: 24000 });
    out.end();
    const all = await decodeAudio(container, concatBytes(frames), 24000);
    const heard = await decodeAudio(container, concatBytes(frames.slice(0, sentBeforeCancel)), 24000);
    const loud = (s: Float32Array) => s.filter((v) => Math.abs(v) > 0.5).length;
    // Nothing loud beyond what had already been sent (allowing the codec's own delay).
    expect(loud(all.samples)).toBeLessThanOrEqual(loud(heard.samples) + 0.02 * all.sampleRate);
    expect(rmsOf(all.samples, all.samples.length - Math.round(0.05 * all.sampleRate))).toBeLessThan(0.01);
  });
});
