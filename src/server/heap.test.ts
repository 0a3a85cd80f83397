import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config.ts';
import { HEAP_GROWING_FLAG, applyHeapGrowth } from './heap.ts';

const minimalPools = [{ name: 'p', backend: 'openai', model: 'm', voices: ['v'], instances: [{ id: 'a', url: 'http://127.0.0.1:1' }] }];

describe('heap growth', () => {
  it('is a flag this V8 knows (setFlagsFromString would ignore an unknown one silently)', () => {
    const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    expect(options).toContain(`${HEAP_GROWING_FLAG} (`);
  });

  it('sets the flag for a positive percentage and nothing for 0', () => {
    expect(applyHeapGrowth(0)).toBeNull();
    // The same value the default config applies, so setting it here changes nothing for other tests.
    expect(applyHeapGrowth(300)).toBe('--heap-growing-percent=300');
  });

  it('defaults to 300 and refuses a negative value', () => {
    expect(parseConfig({ pools: minimalPools }).server.heap_growing_percent).toBe(300);
    expect(parseConfig({ server: { heap_growing_percent: 0 }, pools: minimalPools }).server.heap_growing_percent).toBe(0);
    expect(() => parseConfig({ server: { heap_growing_percent: -1 }, pools: minimalPools })).toThrow(/heap_growing_percent/);
  });
});
