/**
 * The fake GPU's latency model: how long a stream waits for its first audio, how fast audio
 * comes after that, and how both degrade as concurrent streams pile up (a GPU takes 2–4
 * streams comfortably, 5–6 at most, then refuses).
 */

export interface LatencyModel {
  /** Request → first audio at comfortable load, ms. Default 150. */
  first_audio_ms: number;
  /** Real-time factor at comfortable load: wall seconds per second of audio. Default 0.2. */
  rtf: number;
  /** Concurrent streams served at full speed. Default 3. */
  comfortable: number;
  /** Each stream beyond `comfortable` slows every stream by this share (0.35 = +35 %). Default 0.35. */
  slowdown: number;
  /** Concurrent streams accepted at most; one more is refused with `over_capacity_status`. Default 6. */
  max: number;
  /** Status for requests beyond `max`: 503 (queue full) or 429 (rate limited). Default 503. */
  over_capacity_status: number;
  /** Audio per streamed chunk, ms (Kokoro-FastAPI sends sentence-sized chunks). Default 200. */
  chunk_ms: number;
  /** Random ± share applied to each wait (0 = deterministic). Default 0. */
  jitter: number;
}

export const DEFAULT_LATENCY: Readonly<LatencyModel> = Object.freeze({
  first_audio_ms: 150,
  rtf: 0.2,
  comfortable: 3,
  slowdown: 0.35,
  max: 6,
  over_capacity_status: 503,
  chunk_ms: 200,
  jitter: 0,
});

/** Multiplier on every wait when `active` streams run at once (1 up to `comfortable`). */
export function slowdownFactor(model: LatencyModel, active: number): number {
  const excess = active - model.comfortable;
  return excess > 0 ? 1 + excess * model.slowdown : 1;
}

/** A wait of `baseMs` under `active` concurrent streams, with jitter. */
export function scaledWait(model: LatencyModel, baseMs: number, active: number): number {
  let ms = baseMs * slowdownFactor(model, active);
  if (model.jitter > 0) ms *= 1 + (Math.random() * 2 - 1) * model.jitter;
  return ms > 0 ? ms : 0;
}
