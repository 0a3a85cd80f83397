/**
 * Routing benchmark (issue 4): consistent hashing choices side by side, then the pool as built.
 *
 *   npx tsx bench/routing.ts            # full run (~1 min on 2 cores)
 *   npx tsx bench/routing.ts --quick    # 20k keys, fewer removals
 *
 * For N ∈ {4, 8, 32, 1000} and 100k session keys (CallSid-like), per algorithm:
 *   - remap when one instance leaves (fraction of all keys, mean and worst over removals; ×N
 *     is the ratio to the ideal 1/N, target ≤ 1.1) and collateral moves (target 0);
 *   - raw peak-to-mean share (before bounded loads);
 *   - build time (a membership change rebuilds; target ≤ 50 ms at N = 1000);
 * then lookup p50/p99 at N = 1000 (target p99 ≤ 10 µs), and the Pool (ring + bounded loads,
 * ε = 0.25): peak-to-mean pinned sessions after admitting the keys (target ≤ 1.25).
 */
import { fmix32, murmur3 } from '../src/routing/hash.ts';
import { HashRing } from '../src/routing/ring.ts';
import { Pool } from '../src/routing/pool.ts';
import { FakeBackend, testPoolConfig } from '../test/helpers/routing.ts';
import { createRng } from './rng.ts';

const quick = process.argv.includes('--quick');
const KEYS = quick ? 20_000 : 100_000;
const SIZES = [4, 8, 32, 1000];

// ---- inputs ------------------------------------------------------------------------------

const rand = createRng(42);
const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
const keys = Array.from({ length: KEYS }, () => `CA${hex(32)}`);
/** The same ids for a given N in every table (shaped like instanceIdFromUrl's). */
const instanceIds = (n: number) =>
  Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}-8880-${murmur3(`gpu-${i}`).toString(16).padStart(8, '0').slice(0, 6)}`);

// ---- algorithms (one interface: build from ids, first choice per key) ---------------------

interface Algo {
  name: string;
  /** `fleetSize`: the fleet's configured size (Maglev keeps its table size across changes). */
  build(ids: readonly string[], fleetSize: number): (key: string) => number;
}

const ring = (vnodes: number): Algo => ({
  name: `ring v=${vnodes}`,
  build(ids) {
    const r = new HashRing(ids.map((id) => ({ id, weight: 1 })), { vnodes });
    return (key) => r.first(key);
  },
});

/** Weighted rendezvous (HRW): score = -w / ln(u), u from a per-(key, instance) hash. O(N). */
const rendezvous: Algo = {
  name: 'rendezvous',
  build(ids) {
    const seeds = Uint32Array.from(ids, (id) => murmur3(id));
    const weights = new Float64Array(ids.length).fill(1);
    return (key) => {
      const h = murmur3(key);
      let best = -1;
      let bestScore = -Infinity;
      for (let i = 0; i < seeds.length; i++) {
        const u = (fmix32(h ^ seeds[i]) + 0.5) / 4294967296;
        const score = -weights[i] / Math.log(u);
        if (score > bestScore) {
          bestScore = score;
          best = i;
        }
      }
      return best;
    };
  },
};

function nextPrime(n: number): number {
  const isPrime = (x: number) => {
    for (let d = 2; d * d <= x; d++) if (x % d === 0) return false;
    return x > 1;
  };
  while (!isPrime(n)) n++;
  return n;
}

/** Maglev (Eisenbud et al., NSDI 2016): lookup table of prime size M ≥ 100·N. O(1) lookup. */
const maglev: Algo = {
  name: 'maglev',
  build(ids, fleetSize) {
    const n = ids.length;
    // M is fixed for the fleet: a table size that changed with N would remap nearly every key.
    const m = nextPrime(Math.max(65537, 100 * fleetSize));
    const offset = new Uint32Array(n);
    const skip = new Uint32Array(n);
    const next = new Uint32Array(n);
    ids.forEach((id, i) => {
      offset[i] = murmur3(id, 1) % m;
      skip[i] = (murmur3(id, 2) % (m - 1)) + 1;
    });
    const table = new Int32Array(m).fill(-1);
    let filled = 0;
    outer: for (;;) {
      for (let i = 0; i < n; i++) {
        let c = (offset[i] + next[i] * skip[i]) % m;
        while (table[c] >= 0) {
          next[i]++;
          c = (offset[i] + next[i] * skip[i]) % m;
        }
        table[c] = i;
        next[i]++;
        if (++filled === m) break outer;
      }
    }
    return (key) => table[murmur3(key) % m];
  },
};

const ALGOS: Algo[] = [ring(40), ring(160), ring(320), ring(640), rendezvous, maglev];

// ---- measurements ------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
const f = (x: number, d = 3) => x.toFixed(d);

function mapAll(lookup: (key: string) => number, ids: readonly string[]): string[] {
  return keys.map((k) => ids[lookup(k)]);
}

interface Row {
  algo: string;
  n: number;
  peakToMean: number;
  remapMean: number;
  remapWorst: number;
  collateral: number;
  buildMs: number;
}

function quality(algo: Algo, n: number): Row {
  const ids = instanceIds(n);
  const builds: number[] = [];
  let lookup!: (key: string) => number;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    lookup = algo.build(ids, n);
    builds.push(performance.now() - t);
  }
  const base = mapAll(lookup, ids);
  const share = new Map<string, number>();
  for (const id of base) share.set(id, (share.get(id) ?? 0) + 1);
  const peakToMean = Math.max(...share.values()) / (KEYS / n);
  // Removals: every instance for small N, a sample at N = 1000 (rendezvous is O(N) per key).
  const removals = n <= 32 ? (quick ? Math.min(n, 8) : n) : algo === rendezvous ? 2 : quick ? 3 : 8;
  const fractions: number[] = [];
  let collateral = 0;
  for (let r = 0; r < removals; r++) {
    const gone = ids[Math.floor((r * n) / removals)];
    const rest = ids.filter((id) => id !== gone);
    const after = mapAll(algo.build(rest, n), rest);
    let moved = 0;
    for (let i = 0; i < KEYS; i++) {
      if (base[i] === after[i]) continue;
      moved++;
      if (base[i] !== gone) collateral++;
    }
    fractions.push(moved / KEYS);
  }
  return {
    algo: algo.name,
    n,
    peakToMean,
    remapMean: fractions.reduce((a, b) => a + b, 0) / fractions.length,
    remapWorst: Math.max(...fractions),
    collateral,
    buildMs: median(builds),
  };
}

function timeLookups(fn: (key: string) => unknown, samples: number): { p50: number; p99: number } {
  for (let i = 0; i < 5000; i++) fn(keys[i % KEYS]); // warm up the JIT
  const t = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    const key = keys[(i * 7919) % KEYS];
    const s = performance.now();
    fn(key);
    t[i] = (performance.now() - s) * 1000;
  }
  t.sort();
  return { p50: pct(t, 0.5), p99: pct(t, 0.99) };
}

function makePool(n: number, epsilon: number): Pool {
  const config = testPoolConfig({ instances: n, load_epsilon: epsilon });
  const ids = instanceIds(n);
  config.instances.forEach((inst, i) => (inst.id = ids[i]));
  return new Pool({ config, createBackend: () => new FakeBackend() });
}

// ---- run ---------------------------------------------------------------------------------

const started = performance.now();
console.log(`routing bench: ${KEYS} keys, node ${process.version}, ${new Date().toISOString()}\n`);

console.log('## Rebuild on a membership change at N = 1000 (new HashRing; 13 runs, target ≤ 50 ms)');
console.log('| points per instance | median ms | min ms | max ms |');
console.log('|---|---|---|---|');
{
  const list = instanceIds(1000).map((id) => ({ id, weight: 1 }));
  for (const vnodes of [160, 320, 640]) {
    const ts: number[] = [];
    for (let r = 0; r < 13; r++) {
      const t = performance.now();
      new HashRing(list, { vnodes });
      ts.push(performance.now() - t);
    }
    ts.sort((a, b) => a - b);
    console.log(`| ${vnodes}${vnodes === 320 ? ' (default)' : ''} | ${f(ts[6], 1)} | ${f(ts[0], 1)} | ${f(ts[12], 1)} |`);
  }
}

console.log('\n## Hash order: one instance leaves (ideal remap = 1/N; ×N target ≤ 1.1; collateral target 0)');
console.log('| algorithm | N | raw peak/mean | remap mean (×N) | remap worst (×N) | collateral moves | build ms (median of 5) |');
console.log('|---|---|---|---|---|---|---|');
for (const n of SIZES) {
  for (const algo of ALGOS) {
    const r = quality(algo, n);
    console.log(`| ${r.algo} | ${n} | ${f(r.peakToMean)} | ${f(r.remapMean, 5)} (${f(r.remapMean * n, 2)}) | ${f(r.remapWorst, 5)} (${f(r.remapWorst * n, 2)}) | ${r.collateral} | ${f(r.buildMs, 1)} |`);
  }
}

console.log('\n## Lookup at N = 1000 (µs per call, includes hashing the key)');
console.log('| operation | p50 µs | p99 µs |');
console.log('|---|---|---|');
{
  const ids = instanceIds(1000);
  for (const algo of ALGOS) {
    const lookup = algo.build(ids, 1000);
    const r = timeLookups(lookup, 200_000);
    console.log(`| ${algo.name}: first choice | ${f(r.p50)} | ${f(r.p99)} |`);
  }
  const pool = makePool(1000, 0.25);
  for (const k of keys) pool.pin(k); // a loaded pool: 100 sessions per instance
  // New sessions arriving at a loaded pool: each pin is timed alone, then released untimed.
  const fresh = keys.map((k) => `${k}-reconnect`);
  const t = new Float64Array(fresh.length);
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < fresh.length; i++) {
      const s = performance.now();
      const inst = pool.pin(fresh[i])!;
      t[i] = (performance.now() - s) * 1000;
      pool.release(fresh[i], inst);
    }
  }
  t.sort();
  console.log(`| Pool.pin (bounded loads, 100 sessions per instance) | ${f(pct(t, 0.5))} | ${f(pct(t, 0.99))} |`);
  let r: { p50: number; p99: number };
  r = timeLookups((k) => pool.candidates(k, undefined, 3), 200_000);
  console.log(`| Pool.candidates(key, _, 3) | ${f(r.p50)} | ${f(r.p99)} |`);
  r = timeLookups((k) => pool.candidates(k), 20_000);
  console.log(`| Pool.candidates(key) (all 1000) | ${f(r.p50)} | ${f(r.p99)} |`);
  pool.stop();
}

console.log('\n## Pool (ring v=320 + bounded loads): admitting every key, ε = 0.25 (target peak/mean ≤ 1.25)');
console.log('| N | ε | peak/mean pinned | cap ceil((1+ε)·avg) | not on first choice | µs/session (pin + first-choice check) |');
console.log('|---|---|---|---|---|---|');
for (const n of SIZES) {
  for (const eps of [0.25, 0.1]) {
    const pool = makePool(n, eps);
    const t = performance.now();
    let displaced = 0;
    for (const k of keys) {
      const inst = pool.pin(k)!;
      if (inst !== pool.candidates(k, undefined, 1)[0]) displaced++;
    }
    const perAdmit = ((performance.now() - t) * 1000) / KEYS;
    const peak = Math.max(...pool.instances.map((i) => i.sessions));
    const avg = KEYS / n;
    console.log(`| ${n} | ${eps} | ${f(peak / avg)} | ${Math.ceil((1 + eps) * avg)} | ${f((100 * displaced) / KEYS, 2)} % | ${f(perAdmit, 2)} |`);
    pool.stop();
  }
}
console.log(`\ndone in ${f((performance.now() - started) / 1000, 1)} s`);
