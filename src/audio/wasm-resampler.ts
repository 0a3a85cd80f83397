/**
 * The polyphase FIR of polyphase.ts run by a WebAssembly SIMD kernel (src/audio/wasm/resample.wat):
 * f32x4 dot products computing only the output samples, optionally fused with G.711
 * encoding (table lookup in WASM memory), one kernel call per chunk.
 *
 * One module instance serves every stream. Its memory holds the G.711 tables, shared staging
 * areas (JS is single-threaded), the filter tables (one per rate pair) and one small state
 * block per stream: 16 bytes + (K−1) f32 of history, rounded up: 624 bytes at 24→8 kHz
 * (K = 148 taps padded to 152) — 5,000 streams cost ~3.1 MB (computed). A stream's block returns to a free list when its resampler is garbage
 * collected (the Resampler API has no close()).
 *
 * Outputs are rounded half-to-even in f32 (the JS FIR rounds half up in f64): results differ
 * from the JS FIR by at most 1 LSB and do not depend on chunking at all.
 */
import { ALAW_ENCODE_TABLE, MULAW_ENCODE_TABLE } from './g711.ts';
import type { PolyphaseTable } from './polyphase.ts';
import type { FusedG711Resampler, G711Encoding } from './resampler.ts';
import { RESAMPLE_WASM_BASE64 } from './wasm/resample-wasm.ts';

// @types/node 20 declares the WebAssembly types but not the global value.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmGlobal {
  readonly value: number;
}
interface KernelExports {
  readonly memory: WasmMemory;
  readonly resample: (table: number, state: number, n: number, mode: number, limit: number) => number;
  readonly IN: WasmGlobal;
  readonly IN_CAP: WasmGlobal;
  readonly OUT: WasmGlobal;
  readonly OUT_CAP: WasmGlobal;
  readonly SCRATCH_FLOATS: WasmGlobal;
  readonly HEAP: WasmGlobal;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}

/** What one kernel call writes: Int16 samples (0), μ-law bytes (1) or A-law bytes (2). */
type KernelMode = 0 | 1 | 2;
const MODE_INT16 = 0;

const g711Mode = (encoding: G711Encoding): KernelMode => (encoding === 'pcm_mulaw' ? 1 : 2);

const PAGE = 65536;
/** Taps are padded to a multiple of this for the kernel's 2 × f32x4 inner loops. */
const TAP_BLOCK = 8;

/** The kernel instance, its memory views and a small allocator for tables and stream states. */
class Kernel {
  readonly resample: KernelExports['resample'];
  readonly inPtr: number;
  readonly inCap: number;
  readonly outPtr: number;
  readonly outCap: number;
  readonly scratchFloats: number;
  private readonly memory: WasmMemory;
  private buffer: ArrayBuffer;
  u8: Uint8Array;
  i16: Int16Array;
  i32: Int32Array;
  f32: Float32Array;
  private top: number;
  /** Free blocks by exact size (streams of one rate pair all need the same size). */
  private readonly free = new Map<number, number[]>();
  private readonly tables = new WeakMap<PolyphaseTable, WasmTable | null>();

  constructor(exports: KernelExports) {
    this.resample = exports.resample;
    this.memory = exports.memory;
    this.inPtr = exports.IN.value;
    this.inCap = exports.IN_CAP.value;
    this.outPtr = exports.OUT.value;
    this.outCap = exports.OUT_CAP.value;
    this.scratchFloats = exports.SCRATCH_FLOATS.value;
    this.top = exports.HEAP.value;
    this.buffer = this.memory.buffer;
    this.u8 = new Uint8Array(this.buffer);
    this.i16 = new Int16Array(this.buffer);
    this.i32 = new Int32Array(this.buffer);
    this.f32 = new Float32Array(this.buffer);
    this.u8.set(MULAW_ENCODE_TABLE, 0);
    this.u8.set(ALAW_ENCODE_TABLE, 65536);
  }

  /** A 16-byte aligned block of `bytes` (a multiple of 16). */
  alloc(bytes: number): number {
    const reused = this.free.get(bytes)?.pop();
    if (reused !== undefined) return reused;
    const ptr = this.top;
    this.top += bytes;
    if (this.top > this.buffer.byteLength) {
      this.memory.grow(Math.ceil((this.top - this.buffer.byteLength) / PAGE));
      this.refreshViews();
    }
    return ptr;
  }

  release(ptr: number, bytes: number): void {
    let list = this.free.get(bytes);
    if (!list) this.free.set(bytes, (list = []));
    list.push(ptr);
  }

  /** Views die with the old buffer when memory grows. */
  private refreshViews(): void {
    this.buffer = this.memory.buffer;
    this.u8 = new Uint8Array(this.buffer);
    this.i16 = new Int16Array(this.buffer);
    this.i32 = new Int32Array(this.buffer);
    this.f32 = new Float32Array(this.buffer);
  }

  /** The rate pair's table in kernel memory (built once), or null if its taps do not fit the scratch buffer. */
  table(t: PolyphaseTable): WasmTable | null {
    const cached = this.tables.get(t);
    if (cached !== undefined) return cached;
    const taps = Math.ceil(t.taps / TAP_BLOCK) * TAP_BLOCK;
    // The scratch buffer holds the history, one call's input (+8 converted past its end) and,
    // when decimating, the reads of a 4-output group's last members (3·M beyond the input).
    if (taps - 1 + this.inCap + 8 + 3 * t.down > this.scratchFloats) {
      this.tables.set(t, null);
      return null;
    }
    const header = this.alloc(32);
    const coef = this.alloc(t.up * taps * 4);
    const next = this.alloc(Math.ceil(t.up / 4) * 16);
    const adv = this.alloc(Math.ceil(t.up / 4) * 16);
    const f32 = this.f32;
    const i32 = this.i32;
    // Zero taps are prepended: they meet the oldest history samples, so the sum is unchanged.
    const pad = taps - t.taps;
    for (let p = 0; p < t.up; p++) {
      const base = (coef >> 2) + p * taps;
      for (let k = 0; k < pad; k++) f32[base + k] = 0;
      for (let k = 0; k < t.taps; k++) f32[base + pad + k] = t.coefficients[p * t.taps + k];
      i32[(next >> 2) + p] = t.nextPhase[p];
      i32[(adv >> 2) + p] = t.advance[p];
    }
    i32.set([taps, coef, next, adv, t.up === 1 ? t.down : 0], header >> 2);
    // Inputs per call: the staging input, and few enough that the outputs fit the staging output.
    const maxPiece = Math.min(this.inCap, Math.floor(((this.outCap - 8) * t.down) / t.up));
    const table: WasmTable = { source: t, header, taps, maxPiece, stateBytes: Math.ceil((16 + (taps - 1) * 4) / 16) * 16 };
    this.tables.set(t, table);
    return table;
  }
}

interface WasmTable {
  readonly source: PolyphaseTable;
  /** Address of the kernel's table header. */
  readonly header: number;
  /** Taps per phase, padded to TAP_BLOCK. */
  readonly taps: number;
  /** Most input samples one kernel call takes. */
  readonly maxPiece: number;
  readonly stateBytes: number;
}

function loadKernel(): Kernel | null {
  const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return null;
  try {
    // 1,632 bytes, compiled synchronously once when this module loads.
    const module = new api.Module(Buffer.from(RESAMPLE_WASM_BASE64, 'base64'));
    return new Kernel(new api.Instance(module, {}).exports as KernelExports);
  } catch {
    return null; // no WebAssembly SIMD (or bulk memory) here: createResampler uses the JS FIR
  }
}

const kernel = loadKernel();

/** True when the WASM SIMD kernel loaded (Node 20 on x86-64 with SSE4.1 or arm64). */
export function wasmResamplerAvailable(): boolean {
  return kernel !== null;
}

const stateRegistry = new FinalizationRegistry<{ ptr: number; bytes: number }>((held) => kernel?.release(held.ptr, held.bytes));

/**
 * A stream on the WASM kernel. Same contract as the JS PolyphaseResampler (time-aligned,
 * round-up(n·out/in) samples after flush, chunking-invariant), plus `processG711Into`.
 */
export class WasmResampler implements FusedG711Resampler {
  readonly inputRate: number;
  readonly outputRate: number;
  private readonly kernel: Kernel;
  private readonly table: WasmTable;
  private readonly state: number;
  private inputsSeen = 0;
  private outputsMade = 0;

  private constructor(k: Kernel, table: WasmTable) {
    this.kernel = k;
    this.table = table;
    this.inputRate = table.source.inputRate;
    this.outputRate = table.source.outputRate;
    this.state = k.alloc(table.stateBytes);
    stateRegistry.register(this, { ptr: this.state, bytes: table.stateBytes });
    this.reset();
  }

  /** A WASM resampler for the table, or null when the kernel is unavailable or the filter too long for it. */
  static create(t: PolyphaseTable): WasmResampler | null {
    if (kernel === null) return null;
    const table = kernel.table(t);
    return table === null ? null : new WasmResampler(kernel, table);
  }

  reset(): void {
    const t = this.table;
    const k = this.kernel;
    const s = this.state >> 2;
    k.i32[s] = t.source.startPhase;
    k.i32[s + 1] = t.taps - 1 + t.source.startIndex;
    k.f32.fill(0, s + 4, s + 4 + t.taps - 1);
    this.inputsSeen = 0;
    this.outputsMade = 0;
  }

  maxOutput(n: number): number {
    return Math.ceil(((this.table.taps + n) * this.table.source.up) / this.table.source.down) + 2;
  }

  processInto(input: Int16Array, out: Int16Array): number {
    return this.run(input, MODE_INT16, out, null);
  }

  /**
   * Resamples and encodes to μ-law or A-law bytes in one pass; returns
   * the byte count written to `out` from index 0 (at most maxOutput(input.length)).
   */
  processG711Into(input: Int16Array, encoding: G711Encoding, out: Uint8Array): number {
    return this.run(input, g711Mode(encoding), null, out);
  }

  /** Most input samples `processG711` takes per call. */
  get maxChunk(): number {
    return this.table.maxPiece;
  }

  /**
   * Zero-copy form of processG711Into for inputs of at most `maxChunk` samples: the bytes
   * are left in kernel memory at `outputBytes[outputOffset …]`, valid until the next call
   * on any WASM resampler. Returns their count.
   */
  processG711(input: Int16Array, encoding: G711Encoding): number {
    if (input.length > this.table.maxPiece) throw new RangeError(`processG711 takes at most ${this.table.maxPiece} samples`);
    return this.piece(input, g711Mode(encoding));
  }

  /** Kernel memory (the view changes when memory grows: read it after each call). */
  get outputBytes(): Uint8Array {
    return this.kernel.u8;
  }

  get outputOffset(): number {
    return this.kernel.outPtr;
  }

  /** One kernel call on at most maxPiece samples; the output stays in kernel memory. */
  private piece(input: Int16Array, mode: KernelMode): number {
    const k = this.kernel;
    k.i16.set(input, k.inPtr >> 1);
    const count = k.resample(this.table.header, this.state, input.length, mode, 0x7fffffff);
    this.inputsSeen += input.length;
    this.outputsMade += count;
    return count;
  }

  private run(input: Int16Array, mode: KernelMode, outSamples: Int16Array | null, outBytes: Uint8Array | null): number {
    const { maxPiece } = this.table;
    const n = input.length;
    let written = 0;
    for (let pos = 0; pos < n; pos += maxPiece) {
      const count = this.piece(n <= maxPiece ? input : input.subarray(pos, pos + maxPiece), mode);
      this.copyOut(count, mode, outSamples, outBytes, written);
      written += count;
    }
    return written;
  }

  private copyOut(count: number, mode: KernelMode, outSamples: Int16Array | null, outBytes: Uint8Array | null, at: number): void {
    const k = this.kernel;
    // One TypedArray#set (a memcpy) per kernel call.
    if (mode === MODE_INT16) outSamples!.set(k.i16.subarray(k.outPtr >> 1, (k.outPtr >> 1) + count), at);
    else outBytes!.set(k.u8.subarray(k.outPtr, k.outPtr + count), at);
  }

  process(input: Int16Array): Int16Array {
    const out = new Int16Array(this.maxOutput(input.length));
    return out.subarray(0, this.processInto(input, out));
  }

  flush(): Int16Array {
    const out = new Int16Array(Math.max(0, this.pendingTail()));
    this.drain(MODE_INT16, out, null);
    return out;
  }

  /** flush() for processG711Into: the tail as G.711 bytes. */
  flushG711(encoding: G711Encoding): Uint8Array {
    const out = new Uint8Array(Math.max(0, this.pendingTail()));
    this.drain(g711Mode(encoding), null, out);
    return out;
  }

  private pendingTail(): number {
    const t = this.table.source;
    return Math.ceil((this.inputsSeen * t.up) / t.down) - this.outputsMade;
  }

  /** Feeds silence until the outputs that cover the real input are out, then resets. */
  private drain(mode: KernelMode, outSamples: Int16Array | null, outBytes: Uint8Array | null): void {
    const k = this.kernel;
    const { header, maxPiece } = this.table;
    const missing = outSamples?.length ?? outBytes!.length;
    let written = 0;
    k.i16.fill(0, k.inPtr >> 1, (k.inPtr >> 1) + maxPiece);
    while (written < missing) {
      const count = k.resample(header, this.state, maxPiece, mode, missing - written);
      this.copyOut(count, mode, outSamples, outBytes, written);
      written += count;
    }
    this.reset();
  }
}
