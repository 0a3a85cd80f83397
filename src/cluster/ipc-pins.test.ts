import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { pinStoreConformance } from '../routing/pins.common.case.ts';
import { IpcChannel } from './ipc.ts';
import { linkedEndpoints } from '../../test/helpers/ipc-endpoints.ts';
import { IpcPinStore, PinHost, type PinHostMethods, type PinWorkerMethods } from './ipc-pins.ts';

/** A primary's PinHost; `worker()` joins one more worker to it by an in-process IPC pair. */
function setup(ttlMs: number) {
  const host = new PinHost({ ttlMs });
  const workers: { store: IpcPinStore; primary: IpcChannel<PinHostMethods, PinWorkerMethods>; sent: () => number; disconnect: () => void }[] = [];
  async function worker() {
    const [primaryEnd, workerEnd] = linkedEndpoints();
    const primary = new IpcChannel<PinHostMethods, PinWorkerMethods>(primaryEnd);
    host.serve(primary);
    let sent = 0;
    const send = workerEnd.send.bind(workerEnd);
    workerEnd.send = (message) => {
      sent++;
      return send(message);
    };
    const store = new IpcPinStore(new IpcChannel<PinWorkerMethods, PinHostMethods>(workerEnd), { ttlMs });
    await store.start();
    const entry = {
      store,
      primary,
      sent: () => sent,
      disconnect: () => {
        workerEnd.disconnect();
        host.drop(primary);
      },
    };
    workers.push(entry);
    return entry;
  }
  /** Every queued batch has reached the primary and been passed on to every worker. */
  async function settle(): Promise<void> {
    // The batch leaves on the next turn; the linked endpoints deliver a turn later each way.
    await sleep(20);
  }
  return { host, worker, workers, settle };
}

pinStoreConformance('IpcPinStore (two workers through the primary)', {
  async make(ttlMs) {
    const { worker, workers, settle } = setup(ttlMs);
    const a = await worker();
    const b = await worker();
    return {
      a: a.store,
      b: b.store,
      settle,
      close: async () => {
        for (const w of workers) await w.store.close();
      },
    };
  },
});

describe('IpcPinStore', () => {
  it('a worker that starts later (a replacement for a dead one) loads every pin the primary holds; the dead one\'s pins stay', async () => {
    const { host, worker, settle } = setup(60_000);
    const first = await worker();
    for (let i = 0; i < 500; i++) first.store.remember('kokoro', `call-${i}`, `gpu-${i % 7}`);
    await settle();
    first.disconnect();
    expect(host.recall('kokoro', 'call-499')).toBe(`gpu-${499 % 7}`);
    const late = await worker();
    expect(late.store.size).toBe(500);
    expect(late.store.recall('kokoro', 'call-123')).toBe(`gpu-${123 % 7}`);
    // Its own writes reach the others as before.
    const other = await worker();
    late.store.remember('kokoro', 'call-123', 'gpu-9');
    await settle();
    expect(other.store.recall('kokoro', 'call-123')).toBe('gpu-9');
    expect(host.recall('kokoro', 'call-123')).toBe('gpu-9');
  });

  it('the pins of one event-loop turn leave as one message, however many', async () => {
    const { worker, settle } = setup(60_000);
    const a = await worker();
    const b = await worker();
    const before = a.sent();
    for (let i = 0; i < 1000; i++) a.store.remember('kokoro', `call-${i}`, 'gpu-1');
    await settle();
    expect(a.sent() - before).toBe(1);
    expect(b.store.size).toBe(1000);
  });

  it('writes that cross on the way agree everywhere: the later one wins, whichever arrives last', async () => {
    const { host, worker, settle } = setup(60_000);
    const a = await worker();
    const b = await worker();
    // Both re-pin one session in the same turn, b a few ms later, before either hears the other:
    // b then receives a's older write after its own.
    a.store.remember('kokoro', 'call-1', 'gpu-a');
    const later = Date.now() + 5;
    while (Date.now() < later); // the same turn: a's batch has not left yet
    b.store.remember('kokoro', 'call-1', 'gpu-b');
    await settle();
    expect(host.recall('kokoro', 'call-1')).toBe('gpu-b');
    expect(a.store.recall('kokoro', 'call-1')).toBe('gpu-b');
    expect(b.store.recall('kokoro', 'call-1')).toBe('gpu-b');
  });

  it('with the primary gone, remember keeps working in the view and never throws', async () => {
    const { worker } = setup(60_000);
    const a = await worker();
    a.disconnect();
    a.store.remember('kokoro', 'offline', 'gpu-1');
    expect(a.store.recall('kokoro', 'offline')).toBe('gpu-1');
    await sleep(5);
    await a.store.close();
  });
});
