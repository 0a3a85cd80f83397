import { describe, expect, it } from 'vitest';
import { RetryBudget } from './retry-budget.ts';

describe('RetryBudget', () => {
  it('allows the floor of minPerSecond × window when traffic is low', () => {
    const now = 0;
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 3, windowSeconds: 10, now: () => now });
    let granted = 0;
    for (let i = 0; i < 100; i++) if (budget.tryRetry()) granted++;
    expect(granted).toBe(30);
  });

  it('allows ratio × requests when traffic is high', () => {
    const now = 0;
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 3, windowSeconds: 10, now: () => now });
    for (let i = 0; i < 1000; i++) budget.request();
    let granted = 0;
    for (let i = 0; i < 1000; i++) if (budget.tryRetry()) granted++;
    expect(granted).toBe(200);
  });

  it('refills as the window slides', () => {
    let now = 0;
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowSeconds: 5, now: () => now });
    for (let i = 0; i < 5; i++) expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
    now += 1000;
    expect(budget.tryRetry()).toBe(false); // the spent second 0 is still in the window
    now += 4000;
    expect(budget.retriesInWindow).toBe(0);
    expect(budget.tryRetry()).toBe(true);
  });

  it('forgets everything after a long quiet period', () => {
    let now = 0;
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowSeconds: 3, now: () => now });
    for (let i = 0; i < 500; i++) budget.request();
    for (let i = 0; i < 100; i++) budget.tryRetry();
    now += 3_600_000;
    expect(budget.retriesInWindow).toBe(0);
    let granted = 0;
    for (let i = 0; i < 10; i++) if (budget.tryRetry()) granted++;
    expect(granted).toBe(3);
  });
});
