/**
 * `mp3`: LAME compiled to WASM, from the wasm-media-encoders package (chosen by measurement over
 * pure-JS lamejs: about 6× faster, bench/RESULTS.md "Encoders").
 *
 * The package's own wrapper instantiates its WASM asynchronously, one module instance per
 * encoder. Sessions need an encoder synchronously (a `/v1/stream` start, an HTTP response), so
 * this file drives the package's WASM build (its file `wasm/mp3.wasm`, C API in
 * src/wasm/lame/lame_enc.c of its repository) directly: one instance per thread, compiled and
 * instantiated on first use, one LAME state per stream inside it (`enc_init` … `enc_free`).
 * Samples are converted straight into the WASM heap, with no Float32 copy in between.
 *
 * Each stream holds LAME's state and the wrapper's output buffer (~1.8 MB of WASM heap, freed
 * and reused when the stream ends): docs/http-api.md gives the memory per concurrent mp3 stream.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { EMPTY, EncoderError, concatBytes, type AudioEncoder, type EncoderOptions } from './encoder.ts';

const require = createRequire(import.meta.url);

/** The package version whose C API this binding speaks (checked against the WASM at load). */
const EXPECTED_VERSION = 'wasm-media-encoders-0.7.0';
/** 64 kbit/s CBR: clear speech at 24 kHz mono (MPEG-2 Layer III allows 8–160 at this rate). */
export const MP3_DEFAULT_BITRATE = 64_000;
const CBR_BITRATES = [8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MP3_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
/** Samples converted per enc_encode call (bounds the PCM buffer LAME's wrapper keeps). */
const BLOCK = 4608;

interface LameExports {
  memory: { buffer: ArrayBuffer };
  _initialize(): void;
  malloc(size: number): number;
  free(ptr: number): void;
  version(): number;
  enc_init(params: number): number;
  enc_get_pcm(ref: number, samples: number): number;
  enc_get_out_buf(ref: number): number;
  enc_encode(ref: number, samples: number): number;
  enc_flush(ref: number): number;
  enc_free(ref: number): void;
}

// @types/node 20 declares the WebAssembly types but not the global value.
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let lame: LameExports | undefined;

/**
 * Frees the LAME state of an encoder dropped without close(): a `/v1/stream` output has no
 * close of its own, so a call that ends mid-stream relies on this (one WASM heap per thread
 * must not keep ~1.8 MB per finished call).
 */
const unfreed = new FinalizationRegistry<{ lame: LameExports; ref: number }>((held) => {
  if (held.ref !== 0) held.lame.enc_free(held.ref);
});

function cString(heap: Uint8Array, ptr: number): string {
  let end = ptr;
  while (heap[end] !== 0 && end < heap.length) end++;
  return Buffer.from(heap.subarray(ptr, end)).toString('latin1');
}

/** The shared LAME instance of this thread (compiled on first use, once: 6–22 ms measured). */
function lameInstance(): LameExports {
  if (lame) return lame;
  const path = require.resolve('wasm-media-encoders').replace(/dist[/\\].*$/, 'wasm/mp3.wasm');
  const module = new wasmApi.Module(readFileSync(path));
  const instance = new wasmApi.Instance(module, {
    wasi_snapshot_preview1: {
      proc_exit: (code: number) => {
        throw new EncoderError('encoder_failed', `mp3 encoder exited (${code})`);
      },
    },
    env: { emscripten_notify_memory_growth: () => {} },
  });
  const exports = instance.exports as LameExports;
  exports._initialize();
  const version = cString(new Uint8Array(exports.memory.buffer), exports.version());
  if (version !== EXPECTED_VERSION) throw new EncoderError('encoder_failed', `mp3 encoder: expected ${EXPECTED_VERSION}, the installed WASM is ${version}`);
  lame = exports;
  return exports;
}

/** One initialised LAME state per configuration (`rate/kbps`), ready for the next stream. */
const spares = new Map<string, number>();

/** Loads the WASM now (gateway start-up) so the first mp3 request does not pay for it. */
export function preloadMp3(): void {
  lameInstance();
}

export class Mp3Encoder implements AudioEncoder {
  readonly format = 'mp3';
  readonly contentType = 'audio/mpeg';
  private readonly lame: LameExports;
  private readonly sampleRate: number;
  private readonly kbps: number;
  private ref: number;
  /** What the finalization registry frees if this encoder is dropped open. */
  private readonly held: { lame: LameExports; ref: number };

  constructor(options: EncoderOptions) {
    if (!MP3_RATES.includes(options.sampleRate)) throw new EncoderError('unsupported_encoder_input', `mp3 cannot encode ${options.sampleRate} Hz; rates: ${MP3_RATES.join(', ')}`);
    const kbps = Math.round((options.bitrate ?? MP3_DEFAULT_BITRATE) / 1000);
    if (!CBR_BITRATES.includes(kbps)) throw new EncoderError('unsupported_encoder_input', `mp3 bit rate ${kbps} kbit/s is not one of ${CBR_BITRATES.join(', ')}`);
    this.lame = lameInstance();
    this.sampleRate = options.sampleRate;
    this.kbps = kbps;
    this.ref = this.init();
    this.held = { lame: this.lame, ref: this.ref };
    unfreed.register(this, this.held, this);
  }

  private init(): number {
    // A state prepared after the last request starts this stream: LAME's set-up (a few ms)
    // stays off the time to first byte (bench/RESULTS.md "Encoders").
    const key = `${this.sampleRate}/${this.kbps}`;
    const ready = spares.get(key);
    spares.delete(key);
    setImmediate(() => {
      if (!spares.has(key)) spares.set(key, this.initState());
    });
    return ready ?? this.initState();
  }

  private initState(): number {
    const lame = this.lame;
    // PARAMS (packed): in_channel_count, in_sample_rate, bitrate, vbr_quality (float, < 0 = CBR), output rate (0 = input).
    const params = lame.malloc(20);
    const view = new DataView(lame.memory.buffer, params, 20);
    view.setUint32(0, 1, true);
    view.setUint32(4, this.sampleRate, true);
    view.setUint32(8, this.kbps, true);
    view.setFloat32(12, -1, true);
    view.setUint32(16, 0, true);
    const ref = lame.enc_init(params);
    lame.free(params);
    if (ref === 0) throw new EncoderError('encoder_failed', 'mp3 encoder initialisation failed');
    return ref;
  }

  private out(count: number): Uint8Array {
    if (count < 0) throw new EncoderError('encoder_failed', `mp3 encoding failed (${count})`);
    if (count === 0) return EMPTY;
    const ptr = this.lame.enc_get_out_buf(this.ref);
    return new Uint8Array(this.lame.memory.buffer, ptr, count).slice();
  }

  encode(samples: Int16Array): Uint8Array {
    if (this.ref === 0) throw new EncoderError('encoder_failed', 'mp3 encoder used after end()');
    const parts: Uint8Array[] = [];
    for (let offset = 0; offset < samples.length; offset += BLOCK) {
      const n = Math.min(BLOCK, samples.length - offset);
      const table = this.lame.enc_get_pcm(this.ref, n);
      if (table === 0) throw new EncoderError('encoder_failed', 'mp3 encoder out of memory');
      // Fresh views: the heap may have grown (and moved) during the call.
      const buffer = this.lame.memory.buffer;
      const pcm = new Float32Array(buffer, new Uint32Array(buffer, table, 1)[0]!, n);
      for (let i = 0; i < n; i++) pcm[i] = samples[offset + i]! / 32768;
      const bytes = this.out(this.lame.enc_encode(this.ref, n));
      if (bytes.length > 0) parts.push(bytes);
    }
    return concatBytes(parts);
  }

  /**
   * Ends the current MP3 stream and starts a new one: everything given so far comes out, and
   * the bytes stay one playable stream (MP3 is a sequence of independent frames; each restart
   * adds LAME's ~50 ms of encoder delay and padding at a segment boundary).
   */
  flush(): Uint8Array {
    if (this.ref === 0) return EMPTY;
    const bytes = this.out(this.lame.enc_flush(this.ref));
    this.lame.enc_free(this.ref);
    this.ref = 0;
    this.ref = this.held.ref = this.init();
    return bytes;
  }

  /** LAME holds up to two frames: restarting the stream without its output drops them. */
  discard(): void {
    if (this.ref === 0) return;
    this.lame.enc_free(this.ref);
    this.ref = 0;
    this.ref = this.held.ref = this.init();
  }

  end(): Uint8Array {
    if (this.ref === 0) return EMPTY;
    const bytes = this.out(this.lame.enc_flush(this.ref));
    this.close();
    return bytes;
  }

  close(): void {
    if (this.ref === 0) return;
    this.lame.enc_free(this.ref);
    this.ref = this.held.ref = 0;
    unfreed.unregister(this);
  }
}
