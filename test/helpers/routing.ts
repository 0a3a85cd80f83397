/** Test helpers for the routing layer: pool configs and a Backend whose health probe we control. */
import { BackendError } from '../../src/backends/backend.ts';
import type { Backend } from '../../src/backends/backend.ts';
import type { BackendAudio } from '../../src/audio/format.ts';
import { parseConfig } from '../../src/config.ts';
import type { PoolConfig } from '../../src/config.ts';

/** ok: check passes; fail: refuses at once; hang: never answers and ignores its signal. */
export type CheckMode = 'ok' | 'fail' | 'hang';

export class FakeBackend implements Backend {
  readonly protocol = 'fake';
  mode: CheckMode = 'ok';
  /** How synthesize behaves: one chunk of silence, an error at once, or no answer until aborted. */
  synthMode: CheckMode = 'ok';
  checks = 0;
  syntheses = 0;
  closed = false;

  async *synthesize(_req: unknown, signal: AbortSignal): AsyncIterable<BackendAudio> {
    this.syntheses++;
    if (this.synthMode === 'fail') throw new BackendError('http_5xx', 'synthesis failed', 500);
    if (this.synthMode === 'hang') {
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new BackendError('aborted', 'aborted')), { once: true }));
    }
    yield { samples: new Int16Array(240), sampleRate: 24000 };
  }

  check(_signal: AbortSignal): Promise<void> {
    this.checks++;
    if (this.mode === 'ok') return Promise.resolve();
    if (this.mode === 'fail') return Promise.reject(new BackendError('connect', 'connection refused'));
    return new Promise(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export interface TestPoolSpec {
  name?: string;
  instances?: number;
  weights?: readonly number[];
  maxConcurrency?: number;
  voices?: string[];
  health?: Record<string, number>;
  load_epsilon?: number;
}

/** A PoolConfig through the real schema (so every default is the shipped one). */
export function testPoolConfig(spec: TestPoolSpec = {}): PoolConfig {
  const n = spec.instances ?? spec.weights?.length ?? 4;
  const pool: Record<string, unknown> = {
    name: spec.name ?? 'p',
    backend: 'openai',
    voices: spec.voices ?? ['v'],
    instances: Array.from({ length: n }, (_, i) => ({
      id: `gpu-${i}`,
      url: `http://10.0.0.${i}:8880`,
      weight: spec.weights?.[i] ?? 1,
      max_concurrency: spec.maxConcurrency ?? 2,
    })),
    health: spec.health ?? {},
  };
  if (spec.load_epsilon !== undefined) pool.load_epsilon = spec.load_epsilon;
  return parseConfig({ pools: [pool] }).pools[0];
}
