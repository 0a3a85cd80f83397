/**
 * The session core in-process: a real Session, Synthesizer, Placement and WaitQueue over a fake
 * router, driven backends and a recording sink (no sockets). The socket-level tests
 * (test/failover.test.ts, test/saturation.test.ts) stay as end-to-end checks.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DrivenBackend, FakeInstance, FakeRouter, settle, type DrivenCall } from '../../test/helpers/fake-router.ts';
import type { BackendAudio } from '../audio/format.ts';
import { BackendError } from '../backends/backend.ts';
import { parseConfig, type SessionConfig } from '../config.ts';
import { silentLogger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { FallbackSlots } from './fallback.ts';
import { Placement } from './placement.ts';
import { RetryBudget } from './retry-budget.ts';
import { Session, type SessionSink } from './session.ts';
import { WaitQueue } from './wait-queue.ts';

const TIMEOUTS = { connect_ms: 500, first_audio_ms: 800, stall_ms: 800 };

interface Options {
  instances?: number[];
  fallback?: number;
  session?: Partial<SessionConfig>;
  budget?: RetryBudget;
  fallbackChangesVoice?: (voice: string) => boolean;
}

function sessionConfig(patch: Partial<SessionConfig>): SessionConfig {
  return { ...parseConfig({ pools: [{ name: 'p', backend: 'espeak', voices: ['v'], instances: [{ id: 'x' }] }] }).session, ...patch };
}

function build(options: Options = {}) {
  const gpu = new DrivenBackend();
  const cartesia = new DrivenBackend();
  const instances = (options.instances ?? [2, 2]).map((cap, i) => new FakeInstance(`gpu-${i + 1}`, cap, gpu));
  const router = new FakeRouter(instances);
  const fallbackCfg = parseConfig({ pools: [{ name: 'p', backend: 'espeak', voices: ['v'], instances: [{ id: 'x' }] }], fallback: { backend: 'cartesia', max_concurrency: options.fallback ?? 1, voice_map: { default: 'cartesia-voice' } } }).fallback!;
  const fallback = options.fallback === undefined ? null : new FallbackSlots(cartesia, fallbackCfg);
  const queue = new WaitQueue({ pool: 'pool', patienceMs: 1500, hasCapacity: () => router.hasFreeSlot() || (fallback?.free ?? 0) > 0 });
  router.onCapacity(() => queue.pump());
  fallback?.onRelease(() => queue.pump());
  const metrics = new Metrics({ defaultMetrics: false });
  const events: string[] = [];
  const sink: SessionSink = {
    segment: (index, _text, provider) => events.push(`segment ${index} ${provider}`),
    audio: () => {
      if (events.at(-1) !== 'audio') events.push('audio');
    },
    segmentEnd: (index) => events.push(`end ${index}`),
    failover: (index, from, to, reason, replay, voiceChanged) => events.push(`failover ${index} ${from}>${to} ${reason}${replay ? ' replay' : ''}${voiceChanged ? ' voice_changed' : ''}`),
    waiting: (index, position) => events.push(`waiting ${index} @${position}`),
    draining: (ms) => events.push(`draining ${ms}`),
    tooSlow: (message) => events.push(`too_slow ${message.split(' (')[1] ?? message}`),
    turnEnd: () => events.push('turn_end'),
    cancelled: () => events.push('cancelled'),
    mark: (name) => events.push(`mark ${name}`),
    error: (code, _message, segments) => events.push(`error ${code} [${segments?.join(',')}]`),
    bufferedAmount: () => 0,
    cork: (fn) => fn(),
  };
  const config = sessionConfig(options.session ?? {});
  const key = 'call-1';
  const placement = new Placement(
    { key, router, queue, fallback, retryBudget: options.budget ?? null, timeouts: TIMEOUTS, voice: 'af_heart', queueMs: 100, maxWaitMs: config.max_wait_ms, waitingNoticeMs: 800, returnAfterSpill: config.return_after_spill },
    router.pin(key),
  );
  const session = new Session({
    id: key,
    key,
    format: { encoding: 'pcm_s16le', sampleRate: 24000, frameMs: 0 },
    voice: 'af_heart',
    language: 'en',
    pool: 'pool',
    placement,
    config,
    metrics,
    logger: silentLogger,
    sink,
    // One segment per text delta: the tests speak in whole sentences.
    segmenter: { push: (d) => [d], flush: () => [], idle: () => [], reset: () => {} },
    fallbackChangesVoice: options.fallbackChangesVoice,
    createOutput: (_format, onFrame) => ({ write: (a: BackendAudio) => onFrame(new Uint8Array('samples' in a ? a.samples.length * 2 : 0)), end: () => {}, reset: () => {}, emittedMs: 10, resetCount: () => {} }),
  });
  return { session, router, instances, fallback, queue, gpu, cartesia, events, metrics };
}

/** Answers a driven call with two chunks and its end. */
function answer(call: DrivenCall): void {
  call.audio();
  call.audio();
  call.end();
}

afterEach(() => vi.useRealTimers());

describe('Session core', () => {
  it('delivers segments in order even when the second finishes first (lookahead)', async () => {
    const { session, gpu, events } = build();
    session.text('One.');
    session.text('Two.');
    session.flush();
    await settle();
    expect(gpu.calls.map((c) => c.req.text)).toEqual(['One.', 'Two.']);
    answer(gpu.calls[1]!);
    await settle();
    expect(events).toEqual([]);
    answer(gpu.calls[0]!);
    await settle();
    expect(events).toEqual(['segment 0 gpu-1', 'audio', 'end 0', 'segment 1 gpu-1', 'audio', 'end 1', 'turn_end']);
  });

  it('a failure before any audio moves the segment invisibly but announced: failover, then the new provider', async () => {
    const { session, gpu, events, router } = build();
    session.text('One.');
    session.flush();
    await settle();
    gpu.calls[0]!.fail(new BackendError('http_5xx', 'boom', 500));
    await settle();
    expect(gpu.calls).toHaveLength(2);
    answer(gpu.calls[1]!);
    await settle();
    expect(events).toEqual(['failover 0 gpu-1>gpu-2 http_5xx', 'segment 0 gpu-2', 'audio', 'end 0', 'turn_end']);
    expect(router.failures).toEqual([{ id: 'gpu-1', kind: 'http_5xx' }]);
  });

  it('replay: a failure after audio was heard replays the segment elsewhere, announced with replay', async () => {
    const { session, gpu, events } = build();
    session.text('One.');
    session.flush();
    await settle();
    gpu.calls[0]!.audio();
    await settle();
    gpu.calls[0]!.fail(new BackendError('closed', 'cut'));
    await settle();
    answer(gpu.calls[1]!);
    await settle();
    expect(events).toEqual(['segment 0 gpu-1', 'audio', 'failover 0 gpu-1>gpu-2 closed replay', 'audio', 'end 0', 'turn_end']);
  });

  it('skip: a failure after audio was heard ends the segment there, told as a move to none, and frees the slot', async () => {
    const { session, gpu, events, instances } = build({ session: { on_partial_failure: 'skip' } });
    session.text('One.');
    session.text('Two.');
    session.flush();
    await settle();
    gpu.calls[0]!.audio();
    await settle();
    gpu.calls[0]!.fail(new BackendError('closed', 'cut'));
    await settle();
    answer(gpu.calls[1]!);
    await settle();
    expect(gpu.calls).toHaveLength(2); // nothing retried
    expect(events).toEqual(['segment 0 gpu-1', 'audio', 'failover 0 gpu-1>none closed', 'end 0', 'segment 1 gpu-1', 'audio', 'end 1', 'turn_end']);
    expect(instances.map((i) => i.streams)).toEqual([0, 0]);
  });

  it('retry budget spent: the fleet is not retried, the fallback takes the segment', async () => {
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 0 });
    const { session, gpu, cartesia, events } = build({ fallback: 1, budget });
    session.text('One.');
    session.flush();
    await settle();
    gpu.calls[0]!.fail(new BackendError('connect', 'refused'));
    await settle();
    expect(gpu.calls).toHaveLength(1);
    expect(cartesia.calls).toHaveLength(1);
    expect(cartesia.calls[0]!.req.voice).toBe('cartesia-voice');
    answer(cartesia.calls[0]!);
    await settle();
    expect(events).toEqual(['failover 0 gpu-1>cartesia connect', 'segment 0 cartesia', 'audio', 'end 0', 'turn_end']);
  });

  it('a move onto a fallback that lacks the voice says the voice changed; a move between instances does not', async () => {
    const asked: string[] = [];
    const { session, gpu, cartesia, events } = build({ fallback: 1, fallbackChangesVoice: (voice) => (asked.push(voice), true) });
    session.text('One.');
    session.flush();
    await settle();
    gpu.calls[0]!.fail(new BackendError('http_5xx', 'boom', 500));
    await settle();
    gpu.calls[1]!.fail(new BackendError('connect', 'refused'));
    await settle();
    answer(cartesia.calls[0]!);
    await settle();
    expect(events).toEqual(['failover 0 gpu-1>gpu-2 http_5xx', 'failover 0 gpu-2>cartesia connect voice_changed', 'segment 0 cartesia', 'audio', 'end 0', 'turn_end']);
    expect(asked).toEqual(['af_heart']);
  });

  it('a spill to that fallback and the return to the pin both say the voice changed', async () => {
    const { session, gpu, cartesia, events } = build({ instances: [1], fallback: 1, fallbackChangesVoice: () => true });
    session.text('One.');
    session.text('Two.');
    session.flush();
    await settle();
    // The pin's one stream holds segment 0: segment 1 spills after queue_ms (100 ms).
    await new Promise((r) => setTimeout(r, 300));
    await settle();
    expect(cartesia.calls).toHaveLength(1);
    answer(gpu.calls[0]!);
    answer(cartesia.calls[0]!);
    await settle();
    session.text('Three.');
    session.flush();
    await settle();
    answer(gpu.calls[1]!);
    await settle();
    expect(events.filter((e) => e.startsWith('failover'))).toEqual(['failover 1 gpu-1>cartesia overflow voice_changed', 'failover 2 cartesia>gpu-1 pin_change voice_changed']);
  });

  it('a fallback that speaks the voice (a clone there, or a mapped pool voice): voice_changed false', async () => {
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 0 });
    const { session, gpu, cartesia, events } = build({ fallback: 1, budget, fallbackChangesVoice: () => false });
    session.text('One.');
    session.flush();
    await settle();
    gpu.calls[0]!.fail(new BackendError('connect', 'refused'));
    await settle();
    answer(cartesia.calls[0]!);
    await settle();
    expect(events[0]).toBe('failover 0 gpu-1>cartesia connect');
  });

  it('overflow: a 503 cools the instance and moves the segment as overflow, without a failure report', async () => {
    const { session, gpu, events, router } = build();
    session.text('One.');
    session.flush();
    await settle();
    gpu.calls[0]!.fail(new BackendError('http_5xx', 'full', 503));
    await settle();
    answer(gpu.calls[1]!);
    await settle();
    expect(events[0]).toBe('failover 0 gpu-1>gpu-2 overflow');
    expect(router.failures).toEqual([]);
    expect(router.cooled.map((c) => c.id)).toEqual(['gpu-1']);
  });

  it('unhealthy and ejected pins move the session before its next segment, told to the client', async () => {
    const { session, gpu, events, instances } = build();
    instances[0]!.healthy = false;
    session.text('One.');
    session.flush();
    await settle();
    answer(gpu.calls[0]!);
    await settle();
    instances[0]!.healthy = true;
    instances[1]!.healthy = false;
    instances[1]!.ejected = true;
    session.text('Two.');
    session.flush();
    await settle();
    answer(gpu.calls[1]!);
    await settle();
    expect(events.filter((e) => e.startsWith('failover'))).toEqual(['failover 0 gpu-1>gpu-2 unhealthy', 'failover 1 gpu-2>gpu-1 ejected']);
  });

  it('deadlines: no first audio within first_audio_ms moves the segment as timeout; a stalled stream as stall', async () => {
    vi.useFakeTimers();
    const { session, gpu, events } = build({ instances: [1, 1, 1] });
    session.text('One.');
    session.flush();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(800);
    expect(gpu.calls[0]!.signal.aborted).toBe(true); // the hung request is really closed
    gpu.calls[1]!.audio();
    await vi.advanceTimersByTimeAsync(801);
    expect(gpu.calls[1]!.signal.aborted).toBe(true);
    answer(gpu.calls[2]!);
    await vi.advanceTimersByTimeAsync(0);
    expect(events.filter((e) => e.startsWith('failover'))).toEqual(['failover 0 gpu-1>gpu-2 timeout', 'failover 0 gpu-2>gpu-3 stall replay']);
    expect(events.at(-1)).toBe('turn_end');
  });

  it('cancel mid-wait: the waiting segment leaves the queue at once, nothing of it plays', async () => {
    const { session, gpu, events, queue, instances } = build({ instances: [1] });
    session.text('One.');
    session.text('Two.');
    session.flush();
    await settle();
    expect(gpu.calls).toHaveLength(1);
    expect(queue.size).toBe(1);
    session.cancel();
    await settle();
    expect(queue.size).toBe(0);
    expect(gpu.calls[0]!.signal.aborted).toBe(true);
    expect(instances[0]!.streams).toBe(0);
    expect(events).toEqual(['cancelled']);
  });

  it('the fleet stays full past max_wait_ms: the turn gives up once, naming every unspoken segment, and the next turn speaks', async () => {
    vi.useFakeTimers();
    const { session, gpu, events, metrics } = build({ instances: [1], session: { max_wait_ms: 500, lookahead: 2 } });
    session.text('One.');
    session.text('Two.');
    session.text('Three.');
    session.flush();
    await vi.advanceTimersByTimeAsync(0);
    gpu.calls[0]!.audio();
    await vi.advanceTimersByTimeAsync(600); // Two. waited 500 ms: it and Three. give up
    gpu.calls[0]!.audio();
    gpu.calls[0]!.end();
    await vi.advanceTimersByTimeAsync(0);
    expect(events).toEqual(['segment 0 gpu-1', 'audio', 'end 0', 'error fleet_saturated [1,2]', 'turn_end']);
    expect(gpu.calls).toHaveLength(1);
    expect((await metrics.segmentsGivenUp.get()).values.find((v) => v.labels.pool === 'pool')?.value).toBe(2);
    session.text('Four.');
    session.flush();
    await vi.advanceTimersByTimeAsync(0);
    answer(gpu.calls[1]!);
    await vi.advanceTimersByTimeAsync(0);
    expect(events.slice(5)).toEqual(['segment 3 gpu-1', 'audio', 'end 3', 'turn_end']);
  });

  it('a long wait is told once with the queue position', async () => {
    vi.useFakeTimers();
    const { session, gpu, events } = build({ instances: [1] });
    session.text('One.');
    session.text('Two.');
    session.flush();
    // One. plays for 900 ms (audio every 400 ms keeps it within stall_ms); Two. waits meanwhile.
    for (let t = 0; t < 900; t += 400) {
      await vi.advanceTimersByTimeAsync(t === 0 ? 0 : 400);
      gpu.calls[0]!.audio();
    }
    await vi.advanceTimersByTimeAsync(100);
    expect(events.filter((e) => e !== 'audio')).toEqual(['segment 0 gpu-1', 'waiting 1 @1']);
    gpu.calls[0]!.end();
    await vi.advanceTimersByTimeAsync(0);
    answer(gpu.calls[1]!);
    await vi.advanceTimersByTimeAsync(0);
    expect(events.filter((e) => e !== 'audio')).toEqual(['segment 0 gpu-1', 'waiting 1 @1', 'end 0', 'segment 1 gpu-1', 'end 1', 'turn_end']);
  });

  it('drain: the client is told; the turn being written finishes; a new turn that cannot end by the deadline is refused before any audio', async () => {
    const { session, gpu, events } = build();
    session.text('Still talking,');
    let idle = false;
    void session.whenIdle().then(() => (idle = true));
    session.drain(3000);
    await settle();
    expect(idle).toBe(false); // an unflushed turn is live
    session.text(' and done.');
    session.flush();
    await settle();
    for (const call of gpu.calls) answer(call);
    await settle();
    expect(idle).toBe(true);
    // A short turn fits in what is left of the 3 s; a long one does not.
    session.text('Short one.');
    session.flush();
    await settle();
    answer(gpu.calls.at(-1)!);
    await settle();
    session.text('x'.repeat(200));
    session.flush();
    await settle();
    expect(gpu.calls.filter((c) => c.req.text.startsWith('x'))).toHaveLength(0);
    expect(events[0]).toBe('draining 3000');
    expect(events.filter((e) => e.startsWith('error'))).toEqual(['error shutting_down [undefined]']);
    expect(events.at(-1)).toBe('turn_end');
    expect(events.filter((e) => e.startsWith('segment')).map((e) => e.split(' ')[1])).toEqual(['0', '1', '2']);
  });

  it('a client that does not read: new synthesis pauses; past max_pending_marks / max_queued_turns / max_held_bytes the call is ended as too slow and its slots freed', async () => {
    const slow = (config: Partial<SessionConfig>) => {
      const rig = build({ session: config });
      let buffered = 0;
      rig.session['options'].sink.bufferedAmount = () => buffered;
      return { ...rig, setBuffered: (n: number) => (buffered = n) };
    };
    // Marks.
    const marks = slow({ max_pending_marks: 3 });
    marks.setBuffered(10 * 1024 * 1024);
    marks.session.text('One.');
    await settle();
    marks.gpu.calls[0]!.audio();
    await settle();
    for (let i = 0; i < 4; i++) marks.session.mark(`m${i}`);
    expect(marks.events.at(-1)).toBe('too_slow session.max_pending_marks)');
    await settle();
    expect(marks.instances.map((i) => i.streams)).toEqual([0, 0]);
    // Turns.
    const turns = slow({ max_queued_turns: 2 });
    turns.setBuffered(10 * 1024 * 1024);
    for (let i = 0; i < 3; i++) {
      turns.session.text(`Turn ${i}.`);
      turns.session.flush();
      await settle();
      turns.gpu.calls[0]?.audio();
      await settle();
    }
    expect(turns.events.at(-1)).toBe('too_slow session.max_queued_turns)');
    // Held audio; and no new synthesis starts while the client is behind.
    const held = slow({ max_held_bytes: 2000, lookahead: 1 });
    held.session.text('One.');
    held.session.text('Two.');
    await settle();
    held.gpu.calls[0]!.audio(100);
    await settle();
    held.setBuffered(10 * 1024 * 1024);
    held.gpu.calls[0]!.audio(100);
    held.gpu.calls[0]!.end();
    await settle();
    expect(held.gpu.calls).toHaveLength(1); // Two. waits for the client
    held.setBuffered(0);
    held.session.drained();
    await settle();
    expect(held.gpu.calls).toHaveLength(2);
    held.setBuffered(10 * 1024 * 1024);
    held.gpu.calls[1]!.audio(2000);
    await settle();
    expect(held.events.at(-1)).toBe('too_slow session.max_held_bytes)');
    await settle();
    expect(held.gpu.calls[1]!.signal.aborted).toBe(true);
    expect(held.instances.map((i) => i.streams)).toEqual([0, 0]);
  });

  it('close frees every slot and the pin, whatever is in flight or waiting', async () => {
    const { session, gpu, instances, queue, router } = build({ instances: [1] });
    session.text('One.');
    session.text('Two.');
    session.flush();
    await settle();
    session.close();
    await settle();
    expect(gpu.calls[0]!.signal.aborted).toBe(true);
    expect(instances[0]!.streams).toBe(0);
    expect(queue.size).toBe(0);
    expect(router.pins.size).toBe(0);
  });
});
