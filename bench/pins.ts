/**
 * Remembered pins (docs/scaling.md): reconnect stability and what the recall costs on
 * Router.pin, measured side by side in one run on one Pool (no network).
 *
 *   npx tsx bench/pins.ts [--instances 10] [--sessions 200] [--batch 50] [--ops 200000]
 *
 * Stability: `sessions` pinned in batches held open together (bounded loads in play), then
 * reconnected in reversed order, and again after one instance is drained (as if it left): how
 * many kept their instance, and how many moved that were not on the one that left.
 * Cost: ns per pin + release pair, without a store and with LocalPinStore (hit and miss); and
 * as a worker pays it with server.workers and no Redis (IpcPinStore: its view plus one batch per
 * event-loop turn sent over a real IPC channel to a forked primary holding the PinHost). The
 * cost loops yield a turn every TURN_OPS pairs, each row alike, so the IPC batches are sent.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { IpcChannel } from '../src/cluster/ipc.ts';
import { IpcPinStore, PinHost, type PinHostMethods, type PinWorkerMethods } from '../src/cluster/ipc-pins.ts';
import { LocalPinStore, type PinStore } from '../src/routing/pins.ts';
import { Pool } from '../src/routing/pool.ts';
import { FakeBackend, testPoolConfig } from '../test/helpers/routing.ts';

const TTL_MS = 600_000;
/** Pin + release pairs per event-loop turn in the cost loops (a busy worker's turn holds many). */
const TURN_OPS = 100;

if (process.env.PINS_BENCH_PRIMARY) {
  // The forked primary: serves the PinHost on its IPC channel until the parent goes away.
  new PinHost({ ttlMs: TTL_MS }).serve(new IpcChannel<PinHostMethods, PinWorkerMethods>(process as never));
  process.on('disconnect', () => process.exit(0));
} else await main();

async function main(): Promise<void> {
const { values } = parseArgs({ options: { instances: { type: 'string', default: '10' }, sessions: { type: 'string', default: '200' }, batch: { type: 'string', default: '50' }, ops: { type: 'string', default: '200000' } } });
const N = Number(values.instances);
const SESSIONS = Number(values.sessions);
const BATCH = Number(values.batch);
const OPS = Number(values.ops);

const makePool = (pins?: PinStore): Pool => new Pool({ config: testPoolConfig({ instances: N, maxConcurrency: 4 }), createBackend: () => new FakeBackend(), pins });

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

async function cost(pins: PinStore | undefined, keySpace: number): Promise<number> {
  const pool = makePool(pins);
  const keys = Array.from({ length: keySpace }, (_, i) => `cost-${i}`);
  for (let i = 0; i < keySpace; i++) {
    pool.release(keys[i]!, pool.pin(keys[i]!)!); // warm: every key remembered once
    if (i % TURN_OPS === 0) await nextTurn();
  }
  const started = performance.now();
  for (let i = 0; i < OPS; i++) {
    const key = keys[i % keySpace]!;
    pool.release(key, pool.pin(key)!);
    if (i % TURN_OPS === 0) await nextTurn();
  }
  return ((performance.now() - started) * 1e6) / OPS;
}

/** A worker's IpcPinStore joined to a forked primary's PinHost over node's IPC. */
async function ipcStore(): Promise<{ store: IpcPinStore; close(): void }> {
  const child = fork(new URL(import.meta.url).pathname, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, PINS_BENCH_PRIMARY: '1' } });
  await once(child, 'spawn');
  const store = new IpcPinStore(new IpcChannel<PinWorkerMethods, PinHostMethods>(child), { ttlMs: TTL_MS });
  await store.start();
  return { store, close: () => child.kill() };
}

const without = stability();
const withStore = stability(new LocalPinStore({ ttlMs: TTL_MS }));
console.log(`instances ${N}, sessions ${SESSIONS} in batches of ${BATCH}`);
console.log(`| store | kept on reconnect | moved, not on the instance that left (of ${SESSIONS - without.deadSessions}) |`);
console.log('|---|---|---|');
console.log(`| none (bounded loads only) | ${without.reconnectKept} / ${SESSIONS} | ${without.movedNotOnDead} |`);
console.log(`| LocalPinStore | ${withStore.reconnectKept} / ${SESSIONS} | ${withStore.movedNotOnDead} |`);
for (let warm = 0; warm < 2; warm++) {
  const ipc10k = await ipcStore();
  const ipc200k = await ipcStore();
  const rows = [
    ['none', await cost(undefined, 10_000)],
    ['LocalPinStore, 10k keys remembered', await cost(new LocalPinStore({ ttlMs: TTL_MS }), 10_000)],
    ['LocalPinStore, 200k keys (at the cap)', await cost(new LocalPinStore({ ttlMs: TTL_MS }), 200_000)],
    ['IpcPinStore (worker, forked primary), 10k keys', await cost(ipc10k.store, 10_000)],
    ['IpcPinStore (worker, forked primary), 200k keys', await cost(ipc200k.store, 200_000)],
  ] as const;
  ipc10k.close();
  ipc200k.close();
  if (warm === 1) for (const [name, ns] of rows) console.log(`pin + release, ${name}: ${ns.toFixed(0)} ns/op`);
}
}
