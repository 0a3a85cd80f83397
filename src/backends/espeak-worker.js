// One espeak-ng WASM instance kept warm in a worker thread (DESIGN.md §5: the embedded engine).
//
// The npm package is the espeak-ng *CLI* compiled with Emscripten; it exports only main().
// main() leaves C globals behind (getopt's optind, espeak's own state), so a second call on
// the same instance silently re-uses the first call's arguments. Instead of paying a WASM
// start-up per sentence, we snapshot the pristine linear memory once and restore it before
// each call (~3 ms for 32 MiB), then run main() on a text file in the in-memory FS.
//
// Plain JavaScript on purpose: a worker file must load under tsx, vitest and plain node alike.
import { parentPort, workerData } from 'node:worker_threads';
import ESpeakNg from 'espeak-ng';

const encoder = new TextEncoder();
const TEXT_PATH = '/tmp/in.txt';
const WAV_PATH = '/tmp/out.wav';
const WARMUP_TEXT = 'Thank you for calling. How can I help you today? It is 10:45 on May 3rd, 2024.';

let exportsRef;
/** Lines espeak prints while a `voices` request runs (null otherwise: output is dropped). */
let captured = null;
const emscripten = await ESpeakNg({
  noInitialRun: true,
  print(line) {
    if (captured) captured.push(line);
  },
  printErr() {},
  instantiateWasm(imports, done) {
    WebAssembly.instantiate(workerData.module, imports).then((instance) => {
      exportsRef = instance.exports;
      done(instance, workerData.module);
    });
    return {};
  },
});
const wasm = exportsRef;
const heap = new Uint8Array(wasm.memory.buffer);
const pristine = heap.slice();
const pristineStack = wasm.stackSave();

function runMain(args) {
  heap.set(pristine);
  wasm.stackRestore(pristineStack);
  const argv = ['espeak-ng', ...args];
  const pointers = argv.map((arg) => {
    const bytes = encoder.encode(arg + '\0');
    const ptr = wasm.malloc(bytes.length);
    heap.set(bytes, ptr);
    return ptr;
  });
  const argvPtr = wasm.malloc((pointers.length + 1) * 4);
  const table = new Uint32Array(wasm.memory.buffer, argvPtr, pointers.length + 1);
  pointers.forEach((ptr, i) => (table[i] = ptr));
  table[pointers.length] = 0;
  try {
    return wasm.__main_argc_argv(pointers.length, argvPtr);
  } catch (err) {
    // exit() inside main surfaces as an ExitStatus throw.
    if (err && typeof err.status === 'number') return err.status;
    throw err;
  }
}

/** Finds the `data` chunk of espeak's WAV output and returns its samples. */
function wavSamples(file) {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const sampleRate = view.getUint32(24, true);
  let offset = 12;
  while (offset + 8 <= file.byteLength) {
    const id = String.fromCharCode(file[offset], file[offset + 1], file[offset + 2], file[offset + 3]);
    const size = view.getUint32(offset + 4, true);
    if (id === 'data') {
      const start = offset + 8;
      const length = Math.min(size, file.byteLength - start) & ~1;
      const samples = new Int16Array(length / 2);
      new Uint8Array(samples.buffer).set(file.subarray(start, start + length));
      return { samples, sampleRate };
    }
    offset += 8 + size + (size & 1);
  }
  return { samples: new Int16Array(0), sampleRate };
}

function synthesize(text, voice, wpm) {
  emscripten.FS.writeFile(TEXT_PATH, text);
  const args = ['-v', voice, '-s', String(wpm), '-w', WAV_PATH, '-f', TEXT_PATH];
  const status = runMain(args);
  if (status !== 0) throw new Error(`espeak-ng exited with status ${status} (voice ${voice})`);
  const result = wavSamples(emscripten.FS.readFile(WAV_PATH));
  emscripten.FS.unlink(WAV_PATH);
  return result;
}

parentPort.on('message', (msg) => {
  if (msg.type === 'ping') {
    parentPort.postMessage({ id: msg.id, ok: true });
    return;
  }
  if (msg.type === 'voices') {
    captured = [];
    try {
      const status = runMain(['--voices']);
      parentPort.postMessage(status === 0 ? { id: msg.id, ok: true, lines: captured } : { id: msg.id, ok: false, error: `espeak-ng --voices exited with status ${status}` });
    } finally {
      captured = null;
    }
    return;
  }
  try {
    const { samples, sampleRate } = synthesize(msg.text, msg.voice, msg.wpm);
    parentPort.postMessage({ id: msg.id, ok: true, samples, sampleRate }, [samples.buffer]);
  } catch (err) {
    parentPort.postMessage({ id: msg.id, ok: false, error: String(err && err.message ? err.message : err) });
  }
});

// Throwaway sentences before saying ready: the first syntheses of a fresh instance pay for
// loading the voice data and for V8 tiering the hot WASM code up, and no caller should wait
// for that.
try {
  for (let i = 0; i < (workerData.warmupRounds ?? 3); i++) synthesize(WARMUP_TEXT, workerData.warmupVoice ?? 'en-us', 175);
} catch {
  // A voice the data lacks fails here as it would on a real request; ready all the same.
}
parentPort.postMessage({ type: 'ready' });
