/**
 * The one implementation of the first-audio and stall deadlines (docs/failover.md). It wraps
 * every backend's synthesize(): no first chunk within `first_audio_ms`, or a gap longer than
 * `stall_ms` between chunks, aborts the upstream request (so the GPU slot frees) and throws
 * BackendError `timeout` naming which deadline expired. The HTTP and Cartesia adapters arm no
 * deadlines of their own; the espeak worker keeps one too (EspeakWorkerOptions.deadlineMs).
 */
import type { BackendAudio } from '../audio/format.ts';
import type { TimeoutsConfig } from '../config.ts';
import { BackendError, type Backend, type SynthesisRequest } from './backend.ts';

export type Deadlines = Pick<TimeoutsConfig, 'first_audio_ms' | 'stall_ms'>;

/**
 * `backend.synthesize(req)` under the deadlines. Aborting `signal` aborts the upstream request
 * and ends the iteration with the backend's own abort error; leaving the loop early (return)
 * aborts it too.
 */
export async function* synthesizeWithDeadlines(backend: Backend, req: SynthesisRequest, signal: AbortSignal, deadlines: Deadlines, provider = backend.protocol): AsyncGenerator<BackendAudio, void, undefined> {
  const upstream = new AbortController();
  const onAbort = (): void => upstream.abort(signal.reason);
  if (signal.aborted) upstream.abort(signal.reason);
  else signal.addEventListener('abort', onAbort, { once: true });
  let expired: BackendError | null = null;
  const expire = (which: 'first_audio' | 'stall'): void => {
    // The adapter sees this error as its abort reason: the HTTP adapters (CallSignal) and
    // Cartesia's contexts and espeak count it as a timeout in their metrics.
    expired = deadlineError(provider, which, deadlines);
    upstream.abort(expired);
  };
  const firstAudio = setTimeout(expire, deadlines.first_audio_ms, 'first_audio');
  let stall: NodeJS.Timeout | undefined;
  try {
    for await (const audio of backend.synthesize(req, upstream.signal)) {
      if (stall) stall.refresh();
      else {
        clearTimeout(firstAudio);
        stall = setTimeout(expire, deadlines.stall_ms, 'stall');
      }
      yield audio;
      if (expired) break;
    }
    if (expired) throw expired;
  } catch (err) {
    if (expired && !signal.aborted) throw expired;
    throw err;
  } finally {
    clearTimeout(firstAudio);
    clearTimeout(stall);
    signal.removeEventListener('abort', onAbort);
    // Our consumer may have stopped early: the upstream request must not outlive it.
    upstream.abort();
  }
}

function deadlineError(provider: string, which: 'first_audio' | 'stall', deadlines: Deadlines): BackendError {
  const message = which === 'first_audio' ? `${provider}: no audio within first_audio_ms (${deadlines.first_audio_ms} ms)` : `${provider}: audio stalled for stall_ms (${deadlines.stall_ms} ms)`;
  return new BackendError('timeout', message, undefined, { deadline: which });
}
