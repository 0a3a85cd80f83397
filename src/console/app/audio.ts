/**
 * Playback of /v1/stream audio with Web Audio: each binary frame is decoded to float samples
 * and scheduled right after the previous one. A meter worklet at the end of the graph counts
 * the non-silent samples that really flow through it (the console's tests read that count);
 * barge-in stops every scheduled buffer at once.
 */

export type Encoding = 'pcm_s16le' | 'pcm_f32le' | 'pcm_mulaw' | 'pcm_alaw';
export const ENCODINGS: readonly Encoding[] = ['pcm_s16le', 'pcm_f32le', 'pcm_mulaw', 'pcm_alaw'];
export const SAMPLE_RATES = [8000, 16000, 22050, 24000, 44100, 48000] as const;

/** G.711 µ-law byte → linear sample in [-1, 1) (ITU-T G.711). */
function mulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return ((u & 0x80 ? 0x84 - t : t - 0x84) as number) / 32768;
}

/** G.711 A-law byte → linear sample in [-1, 1). */
function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return (a & 0x80 ? t : -t) / 32768;
}

const MULAW = Float32Array.from({ length: 256 }, (_, i) => mulawToLinear(i));
const ALAW = Float32Array.from({ length: 256 }, (_, i) => alawToLinear(i));

/** One binary frame in `encoding` → float samples. */
export function decodeFrame(encoding: Encoding, data: ArrayBuffer): Float32Array {
  const bytes = new Uint8Array(data);
  switch (encoding) {
    case 'pcm_s16le': {
      const view = new DataView(data);
      const out = new Float32Array(bytes.length >> 1);
      for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true) / 32768;
      return out;
    }
    case 'pcm_f32le': {
      const view = new DataView(data);
      const out = new Float32Array(bytes.length >> 2);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case 'pcm_mulaw':
      return Float32Array.from(bytes, (b) => MULAW[b]);
    case 'pcm_alaw':
      return Float32Array.from(bytes, (b) => ALAW[b]);
  }
}

/** 16-bit mono WAV of `chunks` at `sampleRate`. */
export function encodeWav(chunks: readonly Float32Array[], sampleRate: number): Blob {
  const samples = chunks.reduce((n, c) => n + c.length, 0);
  const buffer = new ArrayBuffer(44 + samples * 2);
  const view = new DataView(buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i));
  };
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + samples * 2, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, samples * 2, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (const s of chunk) {
      view.setInt16(offset, Math.max(-32768, Math.min(32767, Math.round(s * 32768))), true);
      offset += 2;
    }
  }
  return new Blob([buffer], { type: 'audio/wav' });
}

/** What the page exposes for tests and the curious (window.voicegateConsole.audio). */
export interface AudioCounters {
  /** Samples above silence that passed the meter at the end of the audio graph. */
  nonSilentSamples: number;
  /** Samples handed to the graph. */
  scheduledSamples: number;
  /** Whether the meter is the worklet (true) or, outside a secure context, the scheduling count. */
  metered: boolean;
  /** Seconds of queued audio the last stop() (barge-in) dropped. */
  droppedSeconds: number;
}

export const counters: AudioCounters = { nonSilentSamples: 0, scheduledSamples: 0, metered: false, droppedSeconds: 0 };

const SILENCE = 1e-3;
/** Scheduling lead: the first frame starts this far ahead so that the next one arrives in time. */
const LEAD_S = 0.06;

export class Player {
  readonly context: AudioContext;
  private readonly input: GainNode;
  private readonly sources = new Set<AudioBufferSourceNode>();
  private nextTime = 0;
  private ready: Promise<void>;

  constructor(readonly sampleRate: number) {
    this.context = new AudioContext({ sampleRate, latencyHint: 'interactive' });
    this.input = this.context.createGain();
    this.ready = this.connectMeter();
  }

  /** input → meter worklet → speakers; without AudioWorklet (insecure page), input → speakers. */
  private async connectMeter(): Promise<void> {
    if (!this.context.audioWorklet) {
      this.input.connect(this.context.destination);
      return;
    }
    try {
      await this.context.audioWorklet.addModule('/console/meter.js');
      const meter = new AudioWorkletNode(this.context, 'voicegate-meter', { processorOptions: { threshold: SILENCE } });
      meter.port.onmessage = (e: MessageEvent<number>) => {
        counters.nonSilentSamples += e.data;
      };
      this.input.connect(meter).connect(this.context.destination);
      counters.metered = true;
    } catch {
      this.input.connect(this.context.destination);
    }
  }

  async resume(): Promise<void> {
    await this.ready;
    if (this.context.state === 'suspended') await this.context.resume();
  }

  /** Queues samples right after what is already queued. */
  play(samples: Float32Array): void {
    if (samples.length === 0) return;
    const buffer = this.context.createBuffer(1, samples.length, this.sampleRate);
    buffer.copyToChannel(samples as Float32Array<ArrayBuffer>, 0);
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.input);
    const now = this.context.currentTime;
    if (this.nextTime < now + 0.005) this.nextTime = now + LEAD_S;
    source.start(this.nextTime);
    this.nextTime += buffer.duration;
    this.sources.add(source);
    source.onended = () => this.sources.delete(source);
    counters.scheduledSamples += samples.length;
    if (!counters.metered) for (const s of samples) if (Math.abs(s) > SILENCE) counters.nonSilentSamples++;
  }

  /** Seconds of queued audio still to play. */
  get queuedSeconds(): number {
    return Math.max(0, this.nextTime - this.context.currentTime);
  }

  /** Barge-in: silence now, drop everything queued. */
  stop(): void {
    counters.droppedSeconds = this.queuedSeconds;
    for (const source of this.sources) {
      source.onended = null;
      source.stop();
      source.disconnect();
    }
    this.sources.clear();
    this.nextTime = 0;
  }

  async close(): Promise<void> {
    this.stop();
    await this.context.close();
  }
}
