/**
 * A slot, once granted, is released exactly once on every path. Random interleavings of
 * sessions speaking, backends answering, failing or hanging, cancels, closes and health changes,
 * against a fake router whose slots throw on a double release: at the end every instance stream
 * and every fallback context is free, and no waiter is left in the queue.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DrivenBackend, FakeInstance, FakeRouter, settle } from '../../test/helpers/fake-router.ts';
import { BackendError } from '../backends/backend.ts';
import { parseConfig } from '../config.ts';
import { silentLogger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { FallbackSlots } from './fallback.ts';
import { Placement } from './placement.ts';
import { Session, type SessionSink } from './session.ts';
import { WaitQueue } from './wait-queue.ts';

const BASE = parseConfig({ pools: [{ name: 'p', backend: 'espeak', voices: ['v'], instances: [{ id: 'x' }] }], fallback: { backend: 'cartesia', max_concurrency: 2 } });
const TIMEOUTS = { connect_ms: 500, first_audio_ms: 60_000, stall_ms: 60_000 };

const NULL_SINK: SessionSink = {
  segment() {},
  audio() {},
  segmentEnd() {},
  failover() {},
  waiting() {},
  draining() {},
  tooSlow() {},
  turnEnd() {},
  cancelled() {},
  mark() {},
  error() {},
  bufferedAmount: () => 0,
  cork: (fn) => fn(),
};

type Op =
  | { op: 'speak'; session: number; segments: number }
  | { op: 'audio' | 'end' | 'fail' | 'overflow' | 'abortCall'; call: number }
  | { op: 'cancel' | 'close' | 'speakCancel' | 'speakClose'; session: number }
  | { op: 'health'; instance: number; up: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('speak' as const), session: fc.nat(4), segments: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constantFrom('audio' as const, 'end' as const, 'fail' as const, 'overflow' as const, 'abortCall' as const), call: fc.nat(40) }),
  fc.record({ op: fc.constantFrom('cancel' as const, 'close' as const, 'speakCancel' as const, 'speakClose' as const), session: fc.nat(4) }),
  fc.record({ op: fc.constant('health' as const), instance: fc.nat(1), up: fc.boolean() }),
);

describe('slots come back on every path (property)', () => {
  it('random grants, answers, failures, cancels, closes and health changes leave no slot held', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60 }), async (ops) => {
        const gpu = new DrivenBackend();
        const cartesia = new DrivenBackend();
        const instances = [new FakeInstance('gpu-1', 1, gpu), new FakeInstance('gpu-2', 2, gpu)];
        const router = new FakeRouter(instances);
        const fallback = new FallbackSlots(cartesia, BASE.fallback!);
        const queue = new WaitQueue({ pool: 'pool', patienceMs: 1500, hasCapacity: () => router.hasFreeSlot() || fallback.free > 0 });
        router.onCapacity(() => queue.pump());
        fallback.onRelease(() => queue.pump());
        const metrics = new Metrics({ defaultMetrics: false });
        const sessions: (Session | null)[] = [];
        const make = (i: number): Session => {
          const key = `s-${i}`;
          const placement = new Placement(
            { key, router, queue, fallback, retryBudget: null, timeouts: TIMEOUTS, voice: 'v', queueMs: 0, maxWaitMs: 60_000, waitingNoticeMs: 60_000, returnAfterSpill: true },
            router.pin(key),
          );
          return new Session({
            id: key,
            key,
            format: { encoding: 'pcm_s16le', sampleRate: 24000, frameMs: 0 },
            voice: 'v',
            language: 'en',
            pool: 'pool',
            placement,
            config: BASE.session,
            metrics,
            logger: silentLogger,
            sink: NULL_SINK,
            segmenter: { push: (d) => [d], flush: () => [], idle: () => [], reset: () => {} },
            createOutput: () => ({ write() {}, end() {}, reset() {}, emittedMs: 0, resetCount() {} }),
          });
        };
        const calls = () => [...gpu.calls, ...cartesia.calls];
        // Calls the backend itself ended (answered or failed): the others must have been aborted.
        const finished = new Set<unknown>();
        const finish = (n: number, how: (c: NonNullable<ReturnType<typeof calls>[number]>) => void) => {
          const call = calls()[n];
          if (!call) return;
          finished.add(call);
          how(call);
        };
        for (const step of ops) {
          switch (step.op) {
            case 'speak': {
              const s = (sessions[step.session] ??= make(step.session));
              for (let k = 0; k < step.segments; k++) s.text(`Sentence ${k}.`);
              s.flush();
              break;
            }
            case 'audio':
              calls()[step.call]?.audio();
              break;
            case 'end':
              finish(step.call, (c) => c.end());
              break;
            case 'fail':
              finish(step.call, (c) => c.fail(new BackendError('http_5xx', 'boom', 500)));
              break;
            case 'overflow':
              finish(step.call, (c) => c.fail(new BackendError('http_429', 'full', 429, { retryAfterMs: 0 })));
              break;
            case 'abortCall':
              finish(step.call, (c) => c.fail(new BackendError('closed', 'cut')));
              break;
            case 'cancel':
              sessions[step.session]?.cancel();
              break;
            // Text, flush and cancel (or a close) in one burst, as one TCP read delivers them: the
            // grant made for the text is settled after the cancel.
            case 'speakCancel':
            case 'speakClose': {
              const s = (sessions[step.session] ??= make(step.session));
              s.text('Burst one.');
              s.text('Burst two.');
              s.flush();
              if (step.op === 'speakCancel') s.cancel();
              else {
                s.close();
                sessions[step.session] = null;
              }
              break;
            }
            case 'close':
              sessions[step.session]?.close();
              sessions[step.session] = null;
              break;
            case 'health':
              instances[step.instance]!.healthy = step.up;
              if (step.up) router.freed();
              break;
          }
          await settle();
        }
        // Every session ends (its socket closes): nothing may stay held.
        for (const s of sessions) s?.close();
        await settle();
        await settle();
        expect(instances.map((i) => i.streams)).toEqual([0, 0]);
        expect(fallback.inUse).toBe(0);
        expect(queue.size).toBe(0);
        expect(router.pins.size).toBe(0);
        // Every request the backend did not end itself was aborted (the GPU slot really frees).
        for (const call of calls()) if (!finished.has(call)) expect(call.signal.aborted).toBe(true);
      }),
      { numRuns: 150 },
    );
  }, 60_000);
});
