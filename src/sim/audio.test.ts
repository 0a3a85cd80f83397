import { describe, expect, it } from 'vitest';
import { SIM_SAMPLE_RATE, syntheticSource, textDurationMs } from './audio.ts';

describe('synthetic audio source', () => {
  const text = 'A sentence of about forty characters long.';

  it('lasts as long as textDurationMs says, at the configured pace and speed', async () => {
    for (const [msPerChar, speed] of [
      [70, 1],
      [35, 1],
      [70, 2],
    ] as const) {
      const pcm = await syntheticSource({ msPerChar }).synthesize(text, 'v', speed);
      expect(pcm.sampleRate).toBe(SIM_SAMPLE_RATE);
      expect(pcm.samples.length).toBe(Math.round((SIM_SAMPLE_RATE * textDurationMs(text, speed, msPerChar)) / 1000));
    }
    expect(textDurationMs(text, 1, 35)).toBe(Math.round(textDurationMs(text) / 2));
  });

  it('never gives less than 200 ms, and is not silent', async () => {
    const pcm = await syntheticSource().synthesize('Hi', 'v', 1);
    expect(pcm.samples.length).toBe(SIM_SAMPLE_RATE * 0.2);
    expect(pcm.samples.some((s) => Math.abs(s) > 1000)).toBe(true);
  });
});
