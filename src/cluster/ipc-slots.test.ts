import { describe, expect, it } from 'vitest';
import { runSlotStoreConformance } from '../routing/slots.common.case.ts';
import { IpcChannel } from './ipc.ts';
import { linkedEndpoints } from '../../test/helpers/ipc-endpoints.ts';
import { IpcSlots, SlotHost, type SlotHostMethods, type SlotWorkerMethods } from './ipc-slots.ts';

/** A primary's SlotHost and `workers` IpcSlots joined by in-process IPC pairs. */
function setup(workers: number) {
  const host = new SlotHost();
  const pairs = Array.from({ length: workers }, () => {
    const [primaryEnd, workerEnd] = linkedEndpoints();
    const primary = new IpcChannel<SlotHostMethods, SlotWorkerMethods>(primaryEnd);
    host.serve(primary);
    const store = new IpcSlots(new IpcChannel<SlotWorkerMethods, SlotHostMethods>(workerEnd));
    return { primary, workerEnd, store };
  });
  return { host, pairs };
}

runSlotStoreConformance('IpcSlots (workers through the primary)', {
  shared: true,
  create: async (holders) => setup(holders).pairs.map((p) => p.store),
});

describe('IpcSlots', () => {
  it("a dead worker's slots are free again for the others", async () => {
    const { host, pairs } = setup(2);
    const [a, b] = pairs;
    const claims = [{ instanceId: 'gpu', limit: 2 }];
    expect(await a!.store.acquire(claims)).not.toBeNull();
    expect(await a!.store.acquire(claims)).not.toBeNull();
    expect(await b!.store.acquire(claims)).toBeNull();
    let woken = 0;
    b!.store.onFree(() => woken++);
    a!.workerEnd.disconnect();
    host.drop(a!.primary);
    expect(host.count('gpu')).toBe(0);
    await expect.poll(() => woken).toBeGreaterThanOrEqual(1);
    expect(await b!.store.acquire(claims)).not.toBeNull();
  });

  it('a release on one worker wakes the wait queue on another', async () => {
    const { pairs } = setup(2);
    const claims = [{ instanceId: 'gpu', limit: 1 }];
    const lease = (await pairs[0]!.store.acquire(claims))!;
    let woken = 0;
    pairs[1]!.store.onFree(() => woken++);
    pairs[0]!.store.release(lease);
    await expect.poll(() => woken).toBe(1);
    expect(await pairs[1]!.store.acquire(claims)).not.toBeNull();
  });

  it('acquire resolves null, never rejects, once the primary is gone (SlotStore contract)', async () => {
    const { pairs } = setup(1);
    const claims = [{ instanceId: 'gpu', limit: 2 }];
    expect(await pairs[0]!.store.acquire(claims)).not.toBeNull();
    pairs[0]!.workerEnd.disconnect();
    await expect(pairs[0]!.store.acquire(claims)).resolves.toBeNull();
  });
});
