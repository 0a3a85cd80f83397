import { describe, expect, it } from 'vitest';
import { runEngineConformance } from './engine.common.case.ts';
import { chooseEngine } from './select.ts';
import { createUwsEngine, loadUws } from './uws.ts';

describe('uWebSockets.js loading', () => {
  it('loads the native binary on this platform (CI machine: Node 20, glibc 2.36)', () => {
    const { uws, reason } = loadUws();
    expect(reason).toBe('native binary loaded');
    expect(uws).not.toBeNull();
  });

  it('auto picks uws where it loads; ws when configured', () => {
    expect(chooseEngine('auto').name).toBe('uws');
    expect(chooseEngine('ws').name).toBe('ws');
  });
});

// uWS bounds an unfinished request head itself (10 s, not configurable) and drops a socket that
// sends invalid UTF-8 without a close frame.
runEngineConformance('uws', createUwsEngine, { headLimitMs: 10_000, invalidUtf8ClientCode: 1006 });
