/**
 * The simulator's "voice cloning": a fake server cannot clone a voice, but it can copy one
 * measurable trait of the reference, its pitch, and speak at it. So a cloned voice has a
 * distinct, checkable signature: audio spoken in it has the reference's fundamental, where
 * the simulator's own voices buzz at 120 Hz (GPU instances) or 120–200 Hz (fake Cartesia).
 * Tests (and operators trying failover) measure it with estimatePitchHz.
 */
import { decodeWav } from '../audio/wav.ts';
import { syntheticSource, type AudioSource } from './audio.ts';

const MIN_HZ = 60;
const MAX_HZ = 500;

/**
 * The fundamental of voiced audio, in Hz (0 when there is none): normalized autocorrelation
 * over the loudest 40 ms frames, taking the first lag whose correlation is near the best (so
 * a period's multiples do not pass for a lower pitch); the median over frames.
 */
export function estimatePitchHz(samples: Int16Array, sampleRate: number): number {
  const frame = Math.round(sampleRate * 0.04);
  const minLag = Math.floor(sampleRate / MAX_HZ);
  const maxLag = Math.ceil(sampleRate / MIN_HZ);
  if (samples.length < frame + maxLag) return 0;
  const starts: { at: number; energy: number }[] = [];
  for (let at = 0; at + frame + maxLag <= samples.length; at += frame) {
    let energy = 0;
    for (let i = at; i < at + frame; i++) energy += samples[i]! * samples[i]!;
    starts.push({ at, energy });
  }
  starts.sort((a, b) => b.energy - a.energy);
  const pitches: number[] = [];
  for (const { at, energy } of starts.slice(0, 12)) {
    if (energy === 0) break;
    const corr = new Float64Array(maxLag + 1);
    let best = 0;
    for (let lag = minLag; lag <= maxLag; lag++) {
      let sum = 0;
      let shifted = 0;
      for (let i = at; i < at + frame; i++) {
        sum += samples[i]! * samples[i + lag]!;
        shifted += samples[i + lag]! * samples[i + lag]!;
      }
      corr[lag] = sum / Math.sqrt(energy * shifted || 1);
      if (corr[lag]! > best) best = corr[lag]!;
    }
    if (best < 0.5) continue;
    for (let lag = minLag + 1; lag < maxLag; lag++) {
      if (corr[lag]! >= 0.9 * best && corr[lag]! >= corr[lag - 1]! && corr[lag]! >= corr[lag + 1]!) {
        pitches.push(sampleRate / lag);
        break;
      }
    }
  }
  if (pitches.length === 0) return 0;
  pitches.sort((a, b) => a - b);
  return pitches[Math.floor(pitches.length / 2)]!;
}

/** The pitch of a reference clip (a WAV file), or null when it is not WAV or has no voice. */
export function referencePitchHz(wav: Uint8Array): number | null {
  try {
    const pcm = decodeWav(wav);
    const hz = estimatePitchHz(pcm.samples, pcm.sampleRate);
    return hz > 0 ? hz : null;
  } catch {
    return null;
  }
}

/** A cloned voice on a fake server: the reference's pitch and the buzz that speaks at it. */
export interface ClonedVoice {
  readonly pitchHz: number;
  readonly source: AudioSource;
  readonly refText?: string;
}

export function clonedVoice(pitchHz: number, refText?: string): ClonedVoice {
  return { pitchHz, source: syntheticSource({ pitchHz }), refText };
}
