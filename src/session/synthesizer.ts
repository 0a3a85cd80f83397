/**
 * Turns one segment into audio whatever the fleet does (DESIGN.md §1, Synthesizer):
 * the pinned instance (waiting up to queue_ms for a stream slot), else the session's next
 * candidate, else the fallback. In-band failure detection (first-audio and stall timeouts,
 * connect/HTTP/protocol errors) moves the segment on; a failure before any audio reached the
 * client retries invisibly, one after it replays the segment or skips it (config).
 */
import type { OutputFormat } from '../audio/format.ts';
import { BackendError, isBackendError, type Backend } from '../backends/backend.ts';
import type { SessionConfig, TimeoutsConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { Instance, Router, Slot } from '../routing/router.ts';
import type { RetryBudget } from './retry-budget.ts';
import type { Segment } from './segment.ts';

export const FALLBACK_PROVIDER = 'cartesia';

export interface FallbackProvider {
  readonly backend: Backend;
  readonly timeouts: TimeoutsConfig;
  /** Maps a pool voice to the fallback's voice. */
  voiceFor(voice: string): string;
  /** Takes a context slot if the account has one free (plan concurrency), else null. */
  tryAcquire(): { release(): void } | null;
}

export interface SynthesizerOptions {
  readonly sessionKey: string;
  readonly router: Router | null;
  readonly timeouts: TimeoutsConfig;
  readonly queueMs: number;
  readonly fallback: FallbackProvider | null;
  readonly voice: string;
  readonly language: string | undefined;
  /** Speaking rate (1 = normal), passed to every provider. */
  readonly speed: number | undefined;
  readonly output: OutputFormat;
  readonly session: SessionConfig;
  readonly metrics: Metrics;
  /** Gateway-wide: fleet retries are at most a share of requests. Fallback moves are free. */
  readonly retryBudget: RetryBudget | null;
  /** A segment's audio grew, or it finished: deliver what can be delivered. */
  readonly onProgress: (segment: Segment) => void;
  /** The session's pin changed (failover re-pin). */
  readonly onRepin: (to: Instance | null) => void;
}

/** Why a segment moved: the `reason` label of voicegate_failovers_total (bounded). */
export type MoveReason = 'timeout' | 'connect' | 'http_429' | 'http_5xx' | 'http_4xx' | 'protocol' | 'closed' | 'overflow' | 'unhealthy';

interface Target {
  readonly provider: string;
  readonly backend: Backend;
  readonly timeouts: TimeoutsConfig;
  readonly voice: string;
  readonly instance: Instance | null;
  readonly release: () => void;
  /** A spill: the pin was full, so this segment only borrows another provider. */
  readonly spill: boolean;
}

export class Synthesizer {
  /** The session's current pin; null = the session lives on the fallback. */
  pin: Instance | null;

  constructor(
    private readonly options: SynthesizerOptions,
    pin: Instance | null,
  ) {
    this.pin = pin;
  }

  /** Runs a segment to completion (done or failed). Never throws. */
  async run(segment: Segment): Promise<void> {
    const { signal } = segment;
    segment.state = 'synthesizing';
    // Per segment, not per session: with lookahead, segments run side by side, and one's
    // failures must neither be forgotten by nor imposed on the other.
    let excluded: Set<string> | undefined;
    let target: Target | null = null;
    try {
      this.options.retryBudget?.request();
      target = await this.firstTarget(signal);
      for (;;) {
        if (signal.aborted) return;
        if (!target) {
          segment.state = 'failed';
          segment.error = 'no provider could synthesize this segment';
          return;
        }
        segment.provider = target.provider;
        const failure = await this.attempt(segment, target);
        target.release();
        if (failure === null) {
          if (target.instance) this.options.router?.reportSuccess(target.instance);
          segment.state = 'done';
          return;
        }
        if (signal.aborted) return;
        if (!failure.retryable) {
          segment.state = 'failed';
          segment.error = failure.message;
          return;
        }
        const from = target.provider;
        excluded ??= new Set();
        if (target.instance) {
          this.options.router?.reportFailure(target.instance, failure.kind);
          excluded.add(target.instance.id);
        } else {
          excluded.add(FALLBACK_PROVIDER);
        }
        const next = this.failoverTarget(excluded);
        target = next;
        const reason = failure.kind as MoveReason;
        const to = next?.provider ?? 'none';
        this.options.metrics.failovers.inc({ from, to, reason });
        if (next) {
          // The session follows the segment, so the rest of the call keeps one voice.
          if (next.instance !== this.pin && !next.spill) this.repin(next.instance);
          const replay = segment.announced;
          if (replay && this.options.session.on_partial_failure === 'skip') {
            next.release();
            segment.moves.push({ from, to: 'none', reason, replay: false });
            segment.discardUndelivered();
            segment.state = 'done';
            return;
          }
          segment.moves.push({ from, to, reason, replay });
          segment.discardUndelivered();
          this.options.onProgress(segment);
        }
      }
    } catch (err) {
      target?.release();
      if (!signal.aborted) {
        segment.state = 'failed';
        segment.error = (err as Error).message;
      }
    } finally {
      this.options.onProgress(segment);
    }
  }

  private repin(to: Instance | null): void {
    const from = this.pin;
    if (to) this.options.router?.repin(this.options.sessionKey, from, to);
    else if (from) this.options.router?.release(this.options.sessionKey, from);
    this.pin = to;
    this.options.onRepin(to);
  }

  private instanceTarget(instance: Instance, slot: Slot, spill: boolean): Target {
    return {
      provider: instance.id,
      backend: instance.backend,
      timeouts: this.options.timeouts,
      voice: this.options.voice,
      instance,
      release: () => slot.release(),
      spill,
    };
  }

  private fallbackTarget(spill: boolean, excluded?: ReadonlySet<string>): Target | null {
    const fb = this.options.fallback;
    if (!fb || excluded?.has(FALLBACK_PROVIDER)) return null;
    const slot = fb.tryAcquire();
    if (!slot) return null;
    return { provider: FALLBACK_PROVIDER, backend: fb.backend, timeouts: fb.timeouts, voice: fb.voiceFor(this.options.voice), instance: null, release: () => slot.release(), spill };
  }

  /** The pin (waiting queue_ms for a slot), else a candidate with a free slot, else the fallback. */
  private async firstTarget(signal: AbortSignal): Promise<Target | null> {
    const { router, metrics } = this.options;
    const pin = this.pin;
    if (!router) return this.fallbackTarget(false);
    if (!pin) {
      // The session lives on the fallback (every instance was down or failed it).
      const fb = this.fallbackTarget(false);
      if (fb) return fb;
      const back = this.candidateTarget();
      if (back) this.repin(back.instance);
      return back;
    }
    if (!pin.healthy) {
      // The pin died between segments: move the session before any audio is at stake.
      const next = this.candidateTarget() ?? this.fallbackTarget(false);
      if (next) {
        metrics.failovers.inc({ from: pin.id, to: next.provider, reason: 'unhealthy' });
        this.repin(next.instance);
      }
      return next;
    }
    const slot = await router.acquire(pin, this.options.queueMs, signal);
    if (slot) return this.instanceTarget(pin, slot, false);
    // Overflow: the pin stayed full past queue_ms. Borrow a candidate, else spill.
    const borrowed = this.candidateTarget(undefined, true) ?? this.fallbackTarget(true);
    if (borrowed) {
      metrics.failovers.inc({ from: pin.id, to: borrowed.provider, reason: 'overflow' });
      if (!this.options.session.return_after_spill) this.repin(borrowed.instance);
      return borrowed;
    }
    // Nowhere else to go: keep waiting for the pin rather than drop the sentence.
    const late = await router.acquire(pin, 60_000, signal);
    return late ? this.instanceTarget(pin, late, false) : null;
  }

  private candidateTarget(excluded?: ReadonlySet<string>, spill = false): Target | null {
    const { router } = this.options;
    if (!router) return null;
    // A few candidates suffice: the full order at N = 1000 costs ~54 µs p50 against ~1 µs for
    // the first three (bench/routing.ts); 8 leaves room for exclusions and full instances.
    for (const candidate of router.candidates(this.options.sessionKey, excluded, 8)) {
      if (candidate === this.pin && spill) continue;
      const slot = router.tryAcquire(candidate);
      if (slot) return this.instanceTarget(candidate, slot, spill);
    }
    return null;
  }

  /** After a failure: another instance if the retry budget allows, else the fallback. */
  private failoverTarget(excluded: ReadonlySet<string>): Target | null {
    const candidate = this.candidateTarget(excluded);
    if (candidate) {
      const budget = this.options.retryBudget;
      if (!budget || budget.tryRetry()) return candidate;
      candidate.release();
    }
    return this.fallbackTarget(false, excluded);
  }

  /** One try on one provider. Resolves null on success, the failure otherwise. */
  private async attempt(segment: Segment, target: Target): Promise<BackendError | null> {
    const controller = new AbortController();
    const outer = segment.signal;
    const onOuterAbort = () => controller.abort(outer.reason);
    outer.addEventListener('abort', onOuterAbort, { once: true });
    let timedOut: 'first audio within first_audio_ms' | 'audio for stall_ms' | null = null;
    let gotAudio = false;
    const firstAudioTimer = setTimeout(() => {
      timedOut = 'first audio within first_audio_ms';
      controller.abort();
    }, target.timeouts.first_audio_ms);
    let stallTimer: NodeJS.Timeout | undefined;
    const provider = target.provider;
    try {
      const stream = target.backend.synthesize(
        { text: segment.text, voice: target.voice, language: this.options.language, speed: this.options.speed, output: this.options.output },
        controller.signal,
      );
      for await (const audio of stream) {
        if (outer.aborted) return null;
        if (stallTimer) {
          stallTimer.refresh();
        } else {
          gotAudio = true;
          clearTimeout(firstAudioTimer);
          stallTimer = setTimeout(() => {
            timedOut = 'audio for stall_ms';
            controller.abort();
          }, target.timeouts.stall_ms);
        }
        segment.push(audio);
        this.options.onProgress(segment);
      }
      if (outer.aborted) return null;
      if (!gotAudio) return new BackendError('closed', `${provider} returned no audio`);
      this.options.metrics.characters.inc({ provider }, segment.text.length);
      return null;
    } catch (err) {
      if (outer.aborted) return null;
      if (timedOut) return new BackendError('timeout', `${provider}: no ${timedOut}`);
      if (isBackendError(err)) return err.kind === 'aborted' ? new BackendError('closed', err.message) : err;
      return new BackendError('protocol', `${provider}: ${(err as Error)?.message ?? String(err)}`);
    } finally {
      clearTimeout(firstAudioTimer);
      clearTimeout(stallTimer);
      outer.removeEventListener('abort', onOuterAbort);
    }
  }
}
