import { describe, expect, it } from 'vitest';
import { BackendError } from './backend.ts';
import { EspeakBackend } from './espeak.ts';

describe('EspeakBackend', () => {
  it('a request cancelled before it starts fails as aborted, not as a backend error', async () => {
    const backend = new EspeakBackend({ pool: 'p', instance: 'espeak-1' });
    try {
      const controller = new AbortController();
      controller.abort();
      const run = async () => {
        for await (const _ of backend.synthesize({ text: 'Hello there.', voice: '' }, controller.signal)) void _;
      };
      const err = await run().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BackendError);
      expect((err as BackendError).kind).toBe('aborted');
    } finally {
      await backend.close();
    }
  });
});
