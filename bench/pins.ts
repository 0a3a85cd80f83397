/**
 * Remembered pins (docs/scaling.md): reconnect stability and what the recall costs on
 * Router.pin, measured side by side in one run on one Pool (no network).
 *
 *   npx tsx bench/pins.ts [--instances 10] [--sessions 200] [--batch 50] [--ops 200000]
 *
 * Stability: `sessions` pinned in batches held open together (bounded loads in play), then
 * reconnected in reversed order, and again after one instance is drained (as if it left): how
 * many kept their instance, and how many moved that were not on the one that left.
 * Cost: ns per pin + release pair, without a store and with LocalPinStore (hit and miss).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LocalPinStore } from '../src/routing/pins.ts';
import { Pool } from '../src/routing/pool.ts';
import { FakeBackend, testPoolConfig } from '../test/helpers/routing.ts';

const { values } = parseArgs({ options: { instances: { type: 'string', default: '10' }, sessions: { type: 'string', default: '200' }, batch: { type: 'string', default: '50' }, ops: { type: 'string', default: '200000' } } });
const N = Number(values.instances);
const SESSIONS = Number(values.sessions);
const BATCH = Number(values.batch);
const OPS = Number(values.ops);

const makePool = (pins?: LocalPinStore): Pool => new Pool({ config: testPoolConfig({ instances: N, maxConcurrency: 4 }), createBackend: () => new FakeBackend(), pins });

function pinBatches(pool: Pool, keys: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < keys.length; i += BATCH) {
    const batch = keys.slice(i, i + BATCH);
    for (const key of batch) out.set(key, pool.pin(key)!.id);
    for (const key of batch) pool.release(key, pool.instance(out.get(key)!)!);
  }
  return out;
}

function stability(pins?: LocalPinStore): { reconnectKept: number; movedNotOnDead: number; deadSessions: number } {
  const pool = makePool(pins);
  const keys = Array.from({ length: SESSIONS }, (_, i) => `call-${i}`);
  // Background load on the pool that differs between the two rounds.
  const first = pinBatches(pool, keys);
  const noise = Array.from({ length: 60 }, (_, i) => `noise-${i}`);
  for (const k of noise) pool.pin(k);
  const again = pinBatches(pool, [...keys].reverse());
  const reconnectKept = keys.filter((k) => again.get(k) === first.get(k)).length;
  const dead = 'gpu-3';
  pool.setDraining(dead, true);
  const after = pinBatches(pool, keys);
  const deadSessions = keys.filter((k) => first.get(k) === dead).length;
  const movedNotOnDead = keys.filter((k) => first.get(k) !== dead && after.get(k) !== first.get(k)).length;
  return { reconnectKept, movedNotOnDead, deadSessions };
}

function cost(pins: LocalPinStore | undefined, keySpace: number): number {
  const pool = makePool(pins);
  const keys = Array.from({ length: keySpace }, (_, i) => `cost-${i}`);
  for (const k of keys) pool.release(k, pool.pin(k)!); // warm: every key remembered once
  const started = performance.now();
  for (let i = 0; i < OPS; i++) {
    const key = keys[i % keySpace]!;
    pool.release(key, pool.pin(key)!);
  }
  return ((performance.now() - started) * 1e6) / OPS;
}

const without = stability();
const withStore = stability(new LocalPinStore({ ttlMs: 600_000 }));
console.log(`instances ${N}, sessions ${SESSIONS} in batches of ${BATCH}`);
console.log(`| store | kept on reconnect | moved, not on the instance that left (of ${SESSIONS - without.deadSessions}) |`);
console.log('|---|---|---|');
console.log(`| none (bounded loads only) | ${without.reconnectKept} / ${SESSIONS} | ${without.movedNotOnDead} |`);
console.log(`| LocalPinStore | ${withStore.reconnectKept} / ${SESSIONS} | ${withStore.movedNotOnDead} |`);
for (let warm = 0; warm < 2; warm++) {
  const rows = [['none', cost(undefined, 10_000)], ['LocalPinStore, 10k keys remembered', cost(new LocalPinStore({ ttlMs: 600_000 }), 10_000)], ['LocalPinStore, 200k keys (at the cap)', cost(new LocalPinStore({ ttlMs: 600_000 }), 200_000)]] as const;
  if (warm === 1) for (const [name, ns] of rows) console.log(`pin + release, ${name}: ${ns.toFixed(0)} ns/op`);
}
