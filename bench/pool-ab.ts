/**
 * The Pool's hot paths, two trees side by side in one process (issue #17 "Routing": the split of
 * pool.ts must not make routing slower). Interleaved rounds, so machine load hits both alike:
 *   - Pool.pin + release on a loaded pool (N = 1000, 100 sessions per instance), each pin timed;
 *   - Pool.candidates(key, _, 3) and Pool.candidates(key) (all 1000);
 *   - Pool.tryAcquire + Slot.release pairs (3 instances).
 *
 *   BEFORE_POOL=/path/to/other/checkout/src/routing/pool.ts npx tsx bench/pool-ab.ts
 *
 * BEFORE_POOL defaults to /work/main/src/routing/pool.ts (the split is merged there now: name a
 * pre-split checkout to compare before and after). Prints the median over rounds of each
 * round's p50 / p99 (µs) or ns per pair.
 */
import { murmur3 } from '../src/routing/hash.ts';
import { Pool } from '../src/routing/pool.ts';
import { FakeBackend, testPoolConfig } from '../test/helpers/routing.ts';
import { createRng } from './rng.ts';

const BEFORE = process.env.BEFORE_POOL ?? '/work/main/src/routing/pool.ts';
const ROUNDS = 7;
const KEYS = 100_000;

interface AnyInstance {
  readonly id: string;
}
interface AnyPool {
  readonly instances: readonly AnyInstance[];
  pin(key: string): AnyInstance | null;
  release(key: string, instance: AnyInstance): void;
  candidates(key: string, exclude?: ReadonlySet<string>, limit?: number): AnyInstance[];
  tryAcquire(instance: AnyInstance): { release(): void } | null;
  stop(): void;
}
type PoolClass = new (options: { config: ReturnType<typeof testPoolConfig>; createBackend: () => FakeBackend }) => AnyPool;

const rand = createRng(42);
const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
const keys = Array.from({ length: KEYS }, () => `CA${hex(32)}`);
const fresh = keys.map((k) => `${k}-reconnect`);

function makePool(P: PoolClass, n: number): AnyPool {
  const config = testPoolConfig({ instances: n, load_epsilon: 0.25 });
  config.instances.forEach((inst, i) => (inst.id = `10.0.${i >> 8}.${i & 255}-8880-${murmur3(`gpu-${i}`).toString(16).slice(0, 6)}`));
  return new P({ config, createBackend: () => new FakeBackend() });
}

const pct = (t: Float64Array, p: number) => t[Math.min(t.length - 1, Math.floor(t.length * p))]!;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timePins(pool: AnyPool): { p50: number; p99: number } {
  const t = new Float64Array(fresh.length);
  for (let i = 0; i < fresh.length; i++) {
    const s = performance.now();
    const inst = pool.pin(fresh[i]!)!;
    t[i] = (performance.now() - s) * 1000;
    pool.release(fresh[i]!, inst);
  }
  t.sort();
  return { p50: pct(t, 0.5), p99: pct(t, 0.99) };
}

function timeCandidates(pool: AnyPool, limit: number | undefined, n: number): { p50: number; p99: number } {
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const key = keys[i % KEYS]!;
    const s = performance.now();
    pool.candidates(key, undefined, limit);
    t[i] = (performance.now() - s) * 1000;
  }
  t.sort();
  return { p50: pct(t, 0.5), p99: pct(t, 0.99) };
}

function slotPairNs(pool: AnyPool, rounds: number): number {
  const inst = pool.instances[0]!;
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) pool.tryAcquire(inst)!.release();
  return Number(process.hrtime.bigint() - started) / rounds;
}

async function main(): Promise<void> {
  const { Pool: BeforePool } = (await import(BEFORE)) as { Pool: PoolClass };
  const trees: [string, PoolClass][] = [
    ['before', BeforePool],
    ['after', Pool as unknown as PoolClass],
  ];
  const loaded = trees.map(([name, P]) => {
    const pool = makePool(P, 1000);
    for (const k of keys) pool.pin(k); // a loaded pool: 100 sessions per instance
    return { name, pool, slots: makePool(P, 3) };
  });
  // Warm-up (JIT) for both before anything is timed.
  for (const { pool, slots } of loaded) {
    timePins(pool);
    timeCandidates(pool, 3, 50_000);
    slotPairNs(slots, 200_000);
  }
  const figures = new Map<string, number[]>();
  const add = (name: string, value: number) => figures.set(name, [...(figures.get(name) ?? []), value]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const { name, pool, slots } of round % 2 === 0 ? loaded : [...loaded].reverse()) {
      const pin = timePins(pool);
      add(`${name} pin p50`, pin.p50);
      add(`${name} pin p99`, pin.p99);
      const c3 = timeCandidates(pool, 3, 200_000);
      add(`${name} candidates3 p50`, c3.p50);
      add(`${name} candidates3 p99`, c3.p99);
      const all = timeCandidates(pool, undefined, 20_000);
      add(`${name} candidatesAll p50`, all.p50);
      add(`${name} candidatesAll p99`, all.p99);
      add(`${name} slot ns`, slotPairNs(slots, 2_000_000));
    }
  }
  const row = (label: string, key: string, unit: string, digits: number) => {
    const b = median(figures.get(`before ${key}`)!);
    const a = median(figures.get(`after ${key}`)!);
    console.log(`| ${label} | ${b.toFixed(digits)} ${unit} | ${a.toFixed(digits)} ${unit} | ${((a / b - 1) * 100).toFixed(0)} % |`);
  };
  console.log(`pool A/B: before = ${BEFORE}, ${ROUNDS} interleaved rounds, medians of each round's figure, node ${process.version}`);
  console.log('| figure | before | after | change |');
  console.log('|---|---|---|---|');
  row('Pool.pin p50 (N = 1000, 100 sessions each)', 'pin p50', 'µs', 3);
  row('Pool.pin p99', 'pin p99', 'µs', 3);
  row('Pool.candidates(key, _, 3) p50', 'candidates3 p50', 'µs', 3);
  row('Pool.candidates(key, _, 3) p99', 'candidates3 p99', 'µs', 3);
  row('Pool.candidates(key) (all 1000) p50', 'candidatesAll p50', 'µs', 2);
  row('Pool.candidates(key) (all 1000) p99', 'candidatesAll p99', 'µs', 2);
  row('Pool.tryAcquire + release pair (3 instances)', 'slot ns', 'ns', 1);
  for (const { pool, slots } of loaded) {
    pool.stop();
    slots.stop();
  }
}

await main();
