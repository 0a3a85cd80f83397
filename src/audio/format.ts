/**
 * Audio formats shared by backends (what GPUs send) and the output path (what callers get).
 * Everything inside the gateway is mono.
 */

export const ENCODINGS = ['pcm_s16le', 'pcm_f32le', 'pcm_mulaw', 'pcm_alaw'] as const;
export type Encoding = (typeof ENCODINGS)[number];

export const SAMPLE_RATES = [8000, 16000, 22050, 24000, 44100, 48000] as const;
export type SampleRate = (typeof SAMPLE_RATES)[number];

/**
 * Signed 16-bit mono samples at `sampleRate`: the gateway's internal currency. A Pcm is
 * handed over: nobody writes into `samples` once it is passed on, so the output path may send
 * views of it to the client instead of copies (src/audio/output.ts).
 */
export interface Pcm {
  readonly samples: Int16Array;
  readonly sampleRate: number;
}

/**
 * Audio already in a client encoding (e.g. Cartesia asked for μ-law at 8 kHz), so the output
 * path only frames it and never decodes/re-encodes.
 */
export interface EncodedAudio {
  readonly encoding: Encoding;
  readonly sampleRate: number;
  readonly bytes: Uint8Array;
}

export type BackendAudio = Pcm | EncodedAudio;

export function isPcm(audio: BackendAudio): audio is Pcm {
  return (audio as Pcm).samples !== undefined;
}

/**
 * Compressed streams offered on `/v1/stream` (`format.encoding` mp3 | opus): the session's
 * audio, as s16le at the negotiated rate, goes through that encoder (src/audio/encoders).
 */
export const CONTAINERS = ['mp3', 'opus'] as const;
export type Container = (typeof CONTAINERS)[number];

/** What the client negotiated in `start` (DESIGN.md §4). frameMs 0 = send as produced. */
export interface OutputFormat {
  /** The PCM encoding; pcm_s16le under a container. */
  readonly encoding: Encoding;
  readonly sampleRate: SampleRate;
  /** Ignored under a container: the codec's own frames are sent as they complete. */
  readonly frameMs: number;
  /** When set, the client receives this compressed stream instead of raw `encoding`. */
  readonly container?: Container;
}

export function bytesPerSample(encoding: Encoding): number {
  switch (encoding) {
    case 'pcm_s16le':
      return 2;
    case 'pcm_f32le':
      return 4;
    case 'pcm_mulaw':
    case 'pcm_alaw':
      return 1;
  }
}
