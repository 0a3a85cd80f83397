/** Picks the transport engine: `auto` takes uWebSockets.js where its native binary loads. */
import type { Engine, EngineOptions } from './engine.ts';
import { createUwsEngine, loadUws } from './uws.ts';
import { createWsEngine } from './ws.ts';

export interface EngineChoice {
  readonly name: 'uws' | 'ws';
  /** Why this engine (logged at start). */
  readonly reason: string;
}

export function chooseEngine(requested: 'auto' | 'uws' | 'ws'): EngineChoice {
  if (requested === 'ws') return { name: 'ws', reason: 'configured' };
  const { uws, reason } = loadUws();
  if (uws) return { name: 'uws', reason: requested === 'uws' ? 'configured' : `auto: ${reason}` };
  if (requested === 'uws') throw new Error(`server.engine is uws but uWebSockets.js is unavailable (${reason})`);
  return { name: 'ws', reason: `auto: uWebSockets.js ${reason}` };
}

export function createEngine<T>(name: 'uws' | 'ws', options: EngineOptions<T>): Engine {
  return name === 'uws' ? createUwsEngine(options) : createWsEngine(options);
}
