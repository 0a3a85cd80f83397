/**
 * Fault injection for fake instances (GPU servers and Cartesia). Shared by every simulated
 * protocol so an operator and our chaos tests speak one vocabulary. Set from the sim CLI
 * and at run time over the sim's control endpoint.
 */
export interface Faults {
  /**
   * Share of requests (0–1) answered with `error_status` instead of audio (Gradio: a 5xx other
   * than 503 is the job's `error` event instead; the fake Cartesia: an error message). Default 0.
   */
  error_rate: number;
  /** Status used for injected errors. Default 500. */
  error_status: number;
  /** Accept the request, then never send a byte (hang before first audio). Default false. */
  hang: boolean;
  /** Send part of the audio, then destroy the connection. Default false. */
  die_mid_stream: boolean;
  /** Send part of the audio, then pause this long before continuing (0 = off). Default 0. */
  stall_ms: number;
  /** The listener is closed: connections are refused (crash). Default false. */
  down: boolean;
}

export const NO_FAULTS: Readonly<Faults> = Object.freeze({
  error_rate: 0,
  error_status: 500,
  hang: false,
  die_mid_stream: false,
  stall_ms: 0,
  down: false,
});

export function mergeFaults(base: Faults, patch: Partial<Faults>): Faults {
  return { ...base, ...patch };
}
