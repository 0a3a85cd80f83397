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

runEngineConformance('uws', createUwsEngine);
