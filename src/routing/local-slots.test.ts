import { describe, expect, it } from 'vitest';
import { LocalSlots } from './local-slots.ts';
import { runSlotStoreConformance } from './slots.common.case.ts';

runSlotStoreConformance('LocalSlots', { shared: false, create: async () => [new LocalSlots()] });

describe('LocalSlots', () => {
  it('answers synchronously (no promise on the hot path)', () => {
    const slots = new LocalSlots();
    const lease = slots.acquire([{ instanceId: 'a', limit: 1 }]);
    expect(lease).not.toBeInstanceOf(Promise);
    expect(lease?.instanceId).toBe('a');
  });
});
