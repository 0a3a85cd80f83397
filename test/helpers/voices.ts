/** Reference clips and uploads for the voice-library tests. */
import { encodeWav } from '../../src/audio/wav.ts';
import { SIM_SAMPLE_RATE, syntheticSource } from '../../src/sim/audio.ts';
import { estimatePitchHz } from '../../src/sim/signature.ts';

/** A voice-like clip of `seconds` at `pitchHz` (the simulator's buzz), as a WAV file. */
export async function referenceWav(seconds: number, pitchHz: number, sampleRate = SIM_SAMPLE_RATE): Promise<Buffer> {
  const pcm = await syntheticSource({ pitchHz, msPerChar: 100 }).synthesize('x'.repeat(Math.round(seconds * 10)), 'ref', 1);
  if (sampleRate === SIM_SAMPLE_RATE) return encodeWav(pcm);
  // Crude rate change for tests that want another source rate: pick samples.
  const n = Math.round((pcm.samples.length * sampleRate) / SIM_SAMPLE_RATE);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = pcm.samples[Math.floor((i * SIM_SAMPLE_RATE) / sampleRate)]!;
  return encodeWav({ samples: out, sampleRate });
}

/** Pitch of s16le audio bytes. */
export function pitchOf(bytes: Buffer, sampleRate: number): number {
  const samples = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.byteLength & ~1)));
  return estimatePitchHz(samples, sampleRate);
}

export interface UploadAnswer {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string; param: string | null } };
}

/** POSTs a voice upload as multipart/form-data. */
export async function uploadVoice(base: string, fields: Record<string, string>, audio: { bytes: Uint8Array; filename: string; type?: string } | null, headers: Record<string, string> = {}): Promise<UploadAnswer> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (audio) form.append('audio', new Blob([audio.bytes], { type: audio.type ?? 'audio/wav' }), audio.filename);
  const res = await fetch(`${base}/v1/audio/voices`, { method: 'POST', body: form, headers });
  return { status: res.status, body: (await res.json()) as UploadAnswer['body'] };
}
