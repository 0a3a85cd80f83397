import { runEngineConformance } from './engine.common.case.ts';
import { createWsEngine } from './ws.ts';

// node:http checks the head timeout once a second: up to 2 s for a 1 s limit.
runEngineConformance('ws', createWsEngine, { headLimitMs: 2000, invalidUtf8ClientCode: 1007 });
