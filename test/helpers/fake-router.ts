/**
 * In-process collaborators for the session core's unit tests (the way LiveKit agents-js tests
 * its FallbackAdapter): a Router over fake instances with stream counts, and a Backend whose
 * every synthesis the test drives by hand.
 */
import type { BackendAudio } from '../../src/audio/format.ts';
import { BackendError, type Backend, type SynthesisRequest } from '../../src/backends/backend.ts';
import type { Instance, Router, Slot } from '../../src/routing/router.ts';

export class FakeInstance implements Instance {
  readonly url = '';
  readonly pool = 'pool';
  readonly weight = 1;
  healthy = true;
  ejected = false;
  draining = false;
  sessions = 0;
  streams = 0;
  coolingUntil = 0;
  /** An adaptive limit learned below maxConcurrency; null = fixed (the limit is the cap). */
  learnedLimit: number | null = null;
  constructor(
    readonly id: string,
    readonly maxConcurrency: number,
    readonly backend: Backend,
  ) {}

  get limit(): number {
    return this.learnedLimit ?? this.maxConcurrency;
  }
}

export class FakeRouter implements Router {
  readonly pool = 'pool';
  readonly failures: { id: string; kind: string }[] = [];
  readonly successes: string[] = [];
  readonly cooled: { id: string; ms: number }[] = [];
  readonly firstAudio: { id: string; ms: number; inFlightAtStart: number }[] = [];
  private readonly listeners: (() => void)[] = [];
  /** Session key → pinned instance (one connection each). */
  readonly pins = new Map<string, FakeInstance>();

  constructor(readonly instances: FakeInstance[]) {}

  pin(key: string): Instance | null {
    const inst = this.instances.find((i) => i.healthy && !i.draining) ?? null;
    if (inst) {
      inst.sessions++;
      this.pins.set(key, inst);
    }
    return inst;
  }

  release(key: string, instance: Instance): void {
    const inst = instance as FakeInstance;
    if (this.pins.get(key) !== inst) return;
    this.pins.delete(key);
    inst.sessions--;
  }

  repin(key: string, from: Instance | null, to: Instance): void {
    if (from) this.release(key, from);
    (to as FakeInstance).sessions++;
    this.pins.set(key, to as FakeInstance);
  }

  /** The fixed order of `instances`, healthy and not excluded. */
  candidates(_key: string, exclude?: ReadonlySet<string>, limit = Infinity): Instance[] {
    return this.instances.filter((i) => i.healthy && !i.draining && !exclude?.has(i.id)).slice(0, limit);
  }

  readonly sharedSlots = false;

  acquireFirst(instances: readonly Instance[]): Slot | null {
    for (const instance of instances) {
      const slot = this.tryAcquire(instance);
      if (slot) return slot;
    }
    return null;
  }

  tryAcquire(instance: Instance): Slot | null {
    const inst = instance as FakeInstance;
    if (!this.canStream(inst)) return null;
    inst.streams++;
    let released = false;
    return {
      instance: inst,
      inFlightAtStart: inst.streams,
      release: () => {
        if (released) throw new Error(`slot on ${inst.id} released twice`);
        released = true;
        inst.streams--;
        this.freed();
      },
    };
  }

  private canStream(inst: FakeInstance): boolean {
    return inst.healthy && inst.streams < inst.limit && inst.coolingUntil <= Date.now();
  }

  coolDown(instance: Instance, ms: number): void {
    this.cooled.push({ id: instance.id, ms });
    (instance as FakeInstance).coolingUntil = Date.now() + ms;
  }

  hasFreeSlot(): boolean {
    return this.instances.some((i) => this.canStream(i));
  }

  onCapacity(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Capacity may have freed (a release, an instance back up, a cool-down over). */
  freed(): void {
    for (const listener of this.listeners) listener();
  }

  reportFirstAudio(instance: Instance, ms: number, inFlightAtStart: number): void {
    this.firstAudio.push({ id: instance.id, ms, inFlightAtStart });
  }

  reportFailure(instance: Instance, kind: string): void {
    this.failures.push({ id: instance.id, kind });
  }

  reportSuccess(instance: Instance): void {
    this.successes.push(instance.id);
  }
}

/** One synthesis the test drives: push audio, end it, fail it. */
export interface DrivenCall {
  readonly req: SynthesisRequest;
  readonly signal: AbortSignal;
  audio(samples?: number): void;
  end(): void;
  fail(error: BackendError): void;
}

/** A Backend whose synthesize() calls are driven by hand through `calls`. */
export class DrivenBackend implements Backend {
  readonly protocol = 'driven';
  readonly calls: DrivenCall[] = [];
  /** Called with each new call, e.g. to answer it at once. */
  onCall: ((call: DrivenCall) => void) | null = null;

  synthesize(req: SynthesisRequest, signal: AbortSignal): AsyncIterable<BackendAudio> {
    const queue: BackendAudio[] = [];
    let done = false;
    let error: unknown = null;
    let wake: (() => void) | null = null;
    const poke = () => {
      wake?.();
      wake = null;
    };
    signal.addEventListener('abort', () => {
      error ??= new BackendError('aborted', 'cancelled');
      poke();
    });
    const call: DrivenCall = {
      req,
      signal,
      audio: (samples = 240) => {
        queue.push({ samples: new Int16Array(samples).fill(1000), sampleRate: 24000 });
        poke();
      },
      end: () => {
        done = true;
        poke();
      },
      fail: (err) => {
        error = err;
        poke();
      },
    };
    this.calls.push(call);
    this.onCall?.(call);
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (queue.length > 0) {
            yield queue.shift()!;
            continue;
          }
          if (error) throw error;
          if (done) return;
          await new Promise<void>((resolve) => (wake = resolve));
        }
      },
    };
  }

  async check(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Lets pending promise callbacks and immediates run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
