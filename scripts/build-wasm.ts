/** `npm run build:wasm`: assembles src/audio/wasm/resample.wat into src/audio/wasm/resample-wasm.ts. */
import { writeFileSync } from 'node:fs';
import { assembleResampleWat, wasmModuleSource } from '../src/audio/wasm/assemble.ts';

const bytes = await assembleResampleWat();
const target = new URL('../src/audio/wasm/resample-wasm.ts', import.meta.url);
writeFileSync(target, wasmModuleSource(bytes));
console.log(`resample.wasm: ${bytes.length} bytes → ${target.pathname}`);
