/**
 * Turns one segment's text into audio whatever the fleet does (DESIGN.md §1). It asks the
 * session's Placement for a slot, runs the attempt under the deadlines (backends/deadline.ts),
 * and on a retryable failure asks again, excluding what failed. It writes no shared state: it
 * reports what happens as typed events, and the Session applies them to the segment.
 */
import type { BackendAudio, OutputFormat } from '../audio/format.ts';
import { BackendError, isBackendError } from '../backends/backend.ts';
import { synthesizeWithDeadlines } from '../backends/deadline.ts';
import type { Metrics } from '../metrics.ts';
import { FALLBACK_PROVIDER } from './fallback.ts';
import type { Grant, MoveReason } from './grant.ts';
import { isOverflow, type Placement } from './placement.ts';
import type { WaitClass } from './wait-queue.ts';

export type SynthesisEvent =
  /** The segment goes to a provider other than its pin (or elsewhere after a failure). */
  | { readonly type: 'moved'; readonly from: string; readonly to: string; readonly reason: MoveReason }
  /** An attempt starts on `provider` (after a `moved`, where there was one). */
  | { readonly type: 'attempt'; readonly provider: string }
  | { readonly type: 'audio'; readonly audio: BackendAudio }
  /**
   * The attempt on `provider` failed; audio it produced is void. The synthesizer looks for
   * another provider next, unless the caller aborts the run now (e.g. `on_partial_failure: skip`).
   */
  | { readonly type: 'attempt_failed'; readonly provider: string; readonly reason: MoveReason; readonly message: string }
  /** No capacity for waitingNoticeMs: the segment is queued at `position`. */
  | { readonly type: 'waiting'; readonly position: number }
  | { readonly type: 'done'; readonly provider: string }
  /**
   * Given up: `fleet_saturated` (nothing freed within max_wait_ms) or `synthesis_failed` (a
   * provider refused the input itself, or no provider is left that could take it).
   */
  | { readonly type: 'failed'; readonly code: 'fleet_saturated' | 'synthesis_failed'; readonly message: string };

export interface SynthesisJob {
  readonly text: string;
  readonly klass: WaitClass;
  /** Aborts the whole run (cancel, close, skip). */
  readonly signal: AbortSignal;
  /** Audio the caller has not heard yet, ms: how long this segment may wait (wait-queue.ts). */
  readonly aheadMs: () => number;
  readonly emit: (event: SynthesisEvent) => void;
}

export interface SynthesizerOptions {
  readonly placement: Placement;
  readonly language: string | undefined;
  /** Speaking rate (1 = normal), passed to every provider. */
  readonly speed: number | undefined;
  /** Style instructions (HTTP speech API), passed to every provider; those whose API lacks them ignore them. */
  readonly instructions?: string;
  readonly output: OutputFormat;
  readonly metrics: Metrics;
  /** `session.max_wait_ms`, for the give-up message. */
  readonly maxWaitMs: number;
}

export class Synthesizer {
  constructor(private readonly options: SynthesizerOptions) {}

  /** Runs a segment to done or failed (silent when aborted). Never throws. */
  async run(job: SynthesisJob): Promise<void> {
    const { signal, emit } = job;
    const { placement } = this.options;
    const excluded = new Set<string>();
    let failure: { from: string; reason: MoveReason } | null = null;
    for (;;) {
      let placed;
      try {
        placed = await placement.place({ klass: job.klass, signal, excluded, failure, aheadMs: job.aheadMs, onWaiting: (position) => emit({ type: 'waiting', position }) });
      } catch (err) {
        if (signal.aborted) return; // aborted while waiting: nothing was granted
        // A slot store that broke its never-rejects promise: the segment fails with a reason
        // rather than leaving the turn waiting for an event that never comes.
        emit({ type: 'failed', code: 'synthesis_failed', message: `no stream slot could be taken (${err instanceof Error ? err.message : String(err)})` });
        return;
      }
      if (placed === 'saturated') {
        emit({ type: 'failed', code: 'fleet_saturated', message: `no provider had capacity within session.max_wait_ms (${this.options.maxWaitMs} ms)` });
        return;
      }
      if (placed === 'no_provider') {
        emit({ type: 'failed', code: 'synthesis_failed', message: failure ? `no provider is left to take it after ${failure.from} failed (${failure.reason})` : 'no provider is up' });
        return;
      }
      const { grant, move } = placed;
      let error: BackendError | null;
      try {
        if (signal.aborted) return;
        if (move) emit({ type: 'moved', from: move.from, to: grant.provider, reason: move.reason });
        emit({ type: 'attempt', provider: grant.provider });
        const startedAt = performance.now();
        const result = await this.attempt(job, grant);
        error = result.error;
        if (signal.aborted) return;
        placement.report(grant, error, result.firstAudioAt > 0 ? result.firstAudioAt - startedAt : undefined);
      } finally {
        grant.release();
      }
      if (error === null) {
        emit({ type: 'done', provider: grant.provider });
        return;
      }
      if (!error.retryable) {
        emit({ type: 'failed', code: 'synthesis_failed', message: error.message });
        return;
      }
      const reason = moveReason(error);
      emit({ type: 'attempt_failed', provider: grant.provider, reason, message: error.message });
      if (signal.aborted) return;
      // A full server is not broken: it may take the segment after its cool-down.
      if (reason !== 'overflow') excluded.add(grant.instance ? grant.provider : FALLBACK_PROVIDER);
      failure = { from: grant.provider, reason };
    }
  }

  /** One try on one provider: error null on success; when its first audio came (0: none). */
  private async attempt(job: SynthesisJob, grant: Grant): Promise<{ error: BackendError | null; firstAudioAt: number }> {
    const { signal, emit, text } = job;
    const { language, speed, instructions, output, metrics } = this.options;
    let firstAudioAt = 0;
    const result = (error: BackendError | null) => ({ error, firstAudioAt });
    try {
      const stream = synthesizeWithDeadlines(grant.backend, { text, voice: grant.voice, language, speed, instructions, output }, signal, grant.timeouts, grant.provider);
      for await (const audio of stream) {
        if (signal.aborted) return result(null);
        if (firstAudioAt === 0) firstAudioAt = performance.now();
        emit({ type: 'audio', audio });
      }
      if (signal.aborted) return result(null);
      if (firstAudioAt === 0) return result(new BackendError('closed', `${grant.provider} returned no audio`));
      metrics.characters.inc({ provider: grant.provider }, text.length);
      return result(null);
    } catch (err) {
      if (signal.aborted) return result(null);
      if (isBackendError(err)) return result(err.code === 'aborted' ? new BackendError('closed', err.message) : err);
      return result(new BackendError('protocol', `${grant.provider}: ${(err as Error)?.message ?? String(err)}`));
    }
  }
}

/** The failover reason for a failed attempt. */
export function moveReason(error: BackendError): MoveReason {
  if (isOverflow(error)) return 'overflow';
  switch (error.code) {
    case 'timeout':
      return error.deadline === 'stall' ? 'stall' : 'timeout';
    case 'connect':
    case 'protocol':
    case 'closed':
      return error.code;
    default:
      return 'http_5xx';
  }
}
