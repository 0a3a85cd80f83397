import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.ts';
import type { Placement } from './placement.ts';
import { Synthesizer, type SynthesisEvent } from './synthesizer.ts';

/** A Synthesizer over a Placement whose `place` does what the test says. */
function synthesizer(place: () => Promise<never>) {
  return new Synthesizer({
    placement: { place } as unknown as Placement,
    language: undefined,
    speed: undefined,
    output: { encoding: 'pcm_s16le', sampleRate: 24000, frameMs: 20 },
    metrics: new Metrics({ defaultMetrics: false }),
    maxWaitMs: 1000,
  });
}

describe('Synthesizer', () => {
  it('a placement that rejects (a slot store broke its never-rejects promise) fails the segment with a reason', async () => {
    const events: SynthesisEvent[] = [];
    await synthesizer(() => Promise.reject(new Error('primary gone'))).run({ text: 'Hi.', klass: 'new_turn', signal: new AbortController().signal, aheadMs: () => 0, emit: (e) => events.push(e) });
    expect(events).toEqual([{ type: 'failed', code: 'synthesis_failed', message: expect.stringContaining('primary gone') }]);
  });

  it('an abort while waiting for a slot ends the run silently (nothing was granted)', async () => {
    const events: SynthesisEvent[] = [];
    const ac = new AbortController();
    ac.abort();
    await synthesizer(() => Promise.reject(new Error('aborted'))).run({ text: 'Hi.', klass: 'new_turn', signal: ac.signal, aheadMs: () => 0, emit: (e) => events.push(e) });
    expect(events).toEqual([]);
  });
});
