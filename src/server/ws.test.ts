import { runEngineConformance } from './engine.common.case.ts';
import { createWsEngine } from './ws.ts';

runEngineConformance('ws', createWsEngine);
