/**
 * The session's output path: backend audio (any rate, Pcm or already-encoded bytes) →
 * resample → encode → fixed-size frames for the client socket; or, for a compressed stream
 * (`/v1/stream` mp3 | opus), → s16le → the container's encoder.
 */
import type { BackendAudio, Encoding, OutputFormat, Pcm } from './format.ts';
import { bytesPerSample, isPcm } from './format.ts';
import { encodeInto, silenceByte } from './encode.ts';
import { LITTLE_ENDIAN } from './samples.ts';
import { createPcmDecoder, type PcmStreamDecoder } from './pcm-decoder.ts';
import { createResampler } from './create-resampler.ts';
import { fusesG711, type FusedG711Resampler, type G711Encoding, type Resampler, type ResamplerQuality } from './resampler.ts';
import { createEncoder } from './encoders/index.ts';
import type { AudioEncoder } from './encoders/encoder.ts';

export interface AudioOutput {
  /** Converts (resample → encode) and frames one backend chunk; calls the sink per finished frame (or once per chunk when frameMs = 0). */
  write(chunk: BackendAudio): void;
  /** End of a segment: flushes the resampler tail, pads the last frame, emits it. */
  end(): void;
  /** Drops buffered audio and resampler state (cancel, or a segment replayed from another provider). */
  reset(): void;
  /** Milliseconds of audio emitted since creation or the last resetCount() — used for segment_end.audio_ms. */
  readonly emittedMs: number;
  resetCount(): void;
}

export interface AudioOutputOptions {
  /** Resampler filter design; default: config audio.resampler_* defaults (60 dB stopband, 0.85 passband). The gateway passes config.audio's values. */
  readonly quality?: ResamplerQuality;
}

/** Samples per frame for a format (0 = unframed). 22050 Hz rounds: 10 ms = 221 samples. */
export function frameSamples(format: OutputFormat): number {
  if (format.frameMs <= 0) return 0;
  return Math.max(1, Math.round((format.sampleRate * format.frameMs) / 1000));
}

class Output implements AudioOutput {
  private readonly encoding: Encoding;
  private readonly rate: number;
  private readonly bps: number;
  private readonly frameBytes: number;
  /** frameBytes in samples (0 = unframed). */
  private readonly frameLen: number;
  /** The client takes s16le on a little-endian host: handed-over samples go out as their bytes. */
  private readonly s16Native: boolean;
  /** The client's encoding when it is G.711 (the WASM kernel can encode it as it resamples). */
  private readonly g711: G711Encoding | null;
  private readonly silence: number;
  private readonly quality: ResamplerQuality | undefined;
  private readonly sink: (frame: Uint8Array) => void;

  private resampler: Resampler | null = null;
  /** True while the resampler holds samples of the current segment (its group delay). */
  private resamplerPrimed = false;
  private decoder: PcmStreamDecoder | null = null;
  private decoderEncoding: Encoding | null = null;
  private decoderRate = 0;
  private scratch = new Int16Array(4096);
  /** The resampler, when it encodes the client's G.711 as it resamples (the WASM kernel). */
  private fused: FusedG711Resampler | null = null;
  /** The frame being filled (fresh per frame: the sink keeps it). */
  private frame: Uint8Array | null = null;
  private frameFill = 0;
  private emittedSamples = 0;

  constructor(format: OutputFormat, sink: (frame: Uint8Array) => void, options: AudioOutputOptions) {
    this.encoding = format.encoding;
    this.rate = format.sampleRate;
    this.bps = bytesPerSample(format.encoding);
    this.frameLen = frameSamples(format);
    this.frameBytes = this.frameLen * this.bps;
    this.s16Native = format.encoding === 'pcm_s16le' && LITTLE_ENDIAN;
    this.g711 = format.encoding === 'pcm_mulaw' || format.encoding === 'pcm_alaw' ? format.encoding : null;
    this.silence = silenceByte(format.encoding);
    this.quality = options.quality;
    this.sink = sink;
  }

  get emittedMs(): number {
    return (this.emittedSamples * 1000) / this.rate;
  }

  resetCount(): void {
    this.emittedSamples = 0;
  }

  write(chunk: BackendAudio): void {
    if (isPcm(chunk)) {
      this.writePcm(chunk);
      return;
    }
    if (chunk.encoding === this.encoding && chunk.sampleRate === this.rate) {
      // Already in the client's format (e.g. Cartesia μ-law 8 kHz): frame the bytes as they are.
      this.flushResampler();
      this.writeEncodedCount(chunk.bytes, 0, chunk.bytes.length);
      return;
    }
    if (this.decoder === null || this.decoderEncoding !== chunk.encoding || this.decoderRate !== chunk.sampleRate) {
      this.decoder = createPcmDecoder(chunk.encoding, chunk.sampleRate);
      this.decoderEncoding = chunk.encoding;
      this.decoderRate = chunk.sampleRate;
    }
    const pcm = this.decoder.push(chunk.bytes);
    if (pcm !== null) this.writePcm(pcm);
  }

  end(): void {
    this.flushResampler();
    this.decoder?.reset();
    if (this.frame !== null && this.frameFill > 0) {
      this.frame.fill(this.silence, this.frameFill);
      this.emit(this.frame);
    }
    this.frame = null;
    this.frameFill = 0;
  }

  reset(): void {
    this.resampler?.reset();
    this.resamplerPrimed = false;
    this.decoder?.reset();
    this.frame = null;
    this.frameFill = 0;
  }

  private writePcm(pcm: Pcm): void {
    const samples = pcm.samples;
    if (samples.length === 0) return;
    if (pcm.sampleRate === this.rate) {
      // Same rate (the common voicebot case): no filter, no copy through a scratch buffer.
      this.flushResampler();
      this.resampler = null;
      this.fused = null;
      this.writeSamples(samples, samples.length, true);
      return;
    }
    if (this.resampler === null || this.resampler.inputRate !== pcm.sampleRate) {
      // A new provider at another rate: finish what the old filter holds, then switch.
      this.flushResampler();
      this.resampler = createResampler(pcm.sampleRate, this.rate, this.quality);
      this.fused = this.g711 !== null && fusesG711(this.resampler) ? this.resampler : null;
    }
    if (this.fused !== null) {
      const fused = this.fused;
      const max = fused.maxChunk;
      for (let pos = 0; pos < samples.length; pos += max) {
        const count = fused.processG711(samples.length <= max ? samples : samples.subarray(pos, pos + max), this.g711!);
        this.writeEncodedCount(fused.outputBytes, fused.outputOffset, count);
      }
      this.resamplerPrimed = true;
      return;
    }
    const need = this.resampler.maxOutput(samples.length);
    if (this.scratch.length < need) this.scratch = new Int16Array(need + 1024);
    const count = this.resampler.processInto(samples, this.scratch);
    this.resamplerPrimed = true;
    this.writeSamples(this.scratch, count);
  }

  private flushResampler(): void {
    if (this.resampler === null || !this.resamplerPrimed) return;
    this.resamplerPrimed = false;
    if (this.fused !== null) {
      const tail = this.fused.flushG711(this.g711!);
      this.writeEncodedCount(tail, 0, tail.length);
      return;
    }
    const tail = this.resampler.flush();
    if (tail.length > 0) this.writeSamples(tail, tail.length);
  }

  /**
   * Encodes and frames `samples[0, count)`. `handedOver`: the samples are the backend's own
   * chunk (never written again), so s16le output can send views of them instead of copies;
   * false for the resampler's scratch buffer, which the next chunk overwrites.
   */
  private writeSamples(samples: Int16Array, count: number, handedOver = false): void {
    if (count === 0) return;
    const bps = this.bps;
    const asIs = handedOver && this.s16Native;
    if (this.frameBytes === 0) {
      if (asIs) {
        this.emit(new Uint8Array(samples.buffer, samples.byteOffset, count * 2));
        return;
      }
      const out = new Uint8Array(count * bps);
      encodeInto(this.encoding, samples, 0, count, out, 0);
      this.emit(out);
      return;
    }
    const frameLen = this.frameLen;
    let offset = 0;
    while (offset < count) {
      if (asIs && this.frame === null && count - offset >= frameLen) {
        // A whole frame on a frame boundary goes out as a view; only frames that straddle
        // two chunks are copied.
        this.emit(new Uint8Array(samples.buffer, samples.byteOffset + offset * 2, this.frameBytes));
        offset += frameLen;
        continue;
      }
      if (this.frame === null) {
        this.frame = new Uint8Array(this.frameBytes);
        this.frameFill = 0;
      }
      const room = (this.frameBytes - this.frameFill) / bps;
      const n = room < count - offset ? room : count - offset;
      encodeInto(this.encoding, samples, offset, n, this.frame, this.frameFill);
      this.frameFill += n * bps;
      offset += n;
      if (this.frameFill === this.frameBytes) {
        this.emit(this.frame);
        this.frame = null;
        this.frameFill = 0;
      }
    }
  }

  /**
   * Frames `count` encoded bytes at `bytes[start …]` (kernel memory, a tail buffer, or
   * EncodedAudio already in the client's format). Runs under 256 bytes are copied byte by byte,
   * which spares the subarray TypedArray#set needs; longer ones use set (threshold not benchmarked).
   */
  private writeEncodedCount(bytes: Uint8Array, start: number, count: number): void {
    if (count === 0) return;
    if (this.frameBytes === 0) {
      this.emit(bytes.slice(start, start + count));
      return;
    }
    const frameBytes = this.frameBytes;
    let offset = start;
    const stop = start + count;
    while (offset < stop) {
      let frame = this.frame;
      if (frame === null) {
        frame = this.frame = new Uint8Array(frameBytes);
        this.frameFill = 0;
      }
      let fill = this.frameFill;
      const end = Math.min(stop, offset + frameBytes - fill);
      if (end - offset >= 256) {
        frame.set(bytes.subarray(offset, end), fill);
        fill += end - offset;
        offset = end;
      } else {
        while (offset < end) frame[fill++] = bytes[offset++];
      }
      if (fill === frameBytes) {
        this.emit(frame);
        this.frame = null;
        this.frameFill = 0;
      } else {
        this.frameFill = fill;
      }
    }
  }

  private emit(frame: Uint8Array): void {
    this.emittedSamples += frame.length / this.bps;
    this.sink(frame);
  }
}

/**
 * A compressed stream (format.container): the PCM path produces s16le at the client's rate,
 * unframed, and the encoder turns it into mp3/Ogg Opus bytes. A segment's end flushes the
 * encoder so its audio leaves before `segment_end`; a reset (barge-in, replay) discards what the
 * encoder holds. The stream itself never ends: a client's MediaSource or decoder reads one
 * continuous stream for the whole call.
 */
class EncodedOutput implements AudioOutput {
  private readonly pcm: Output;
  private readonly encoder: AudioEncoder;
  private readonly sink: (bytes: Uint8Array) => void;

  constructor(format: OutputFormat & { container: NonNullable<OutputFormat['container']> }, sink: (frame: Uint8Array) => void, options: AudioOutputOptions) {
    this.sink = sink;
    this.encoder = createEncoder(format.container, { sampleRate: format.sampleRate });
    this.pcm = new Output({ encoding: 'pcm_s16le', sampleRate: format.sampleRate, frameMs: 0 }, (frame) => this.encode(frame), options);
  }

  private encode(frame: Uint8Array): void {
    const samples =
      frame.byteOffset % 2 === 0 ? new Int16Array(frame.buffer, frame.byteOffset, frame.byteLength >> 1) : new Int16Array(frame.slice().buffer, 0, frame.byteLength >> 1);
    const bytes = this.encoder.encode(samples);
    if (bytes.length > 0) this.sink(bytes);
  }

  get emittedMs(): number {
    return this.pcm.emittedMs;
  }

  resetCount(): void {
    this.pcm.resetCount();
  }

  write(chunk: BackendAudio): void {
    this.pcm.write(chunk);
  }

  end(): void {
    this.pcm.end();
    const bytes = this.encoder.flush();
    if (bytes.length > 0) this.sink(bytes);
  }

  reset(): void {
    this.pcm.reset();
    this.encoder.discard();
  }
}

/** The output pipeline for one client stream (see AudioOutput). */
export function createAudioOutput(format: OutputFormat, sink: (frame: Uint8Array) => void, options: AudioOutputOptions = {}): AudioOutput {
  const container = format.container;
  if (container !== undefined) return new EncodedOutput({ ...format, container }, sink, options);
  return new Output(format, sink, options);
}
