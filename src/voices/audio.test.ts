import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../audio/wav.ts';
import { syntheticSource } from '../sim/audio.ts';
import { estimatePitchHz } from '../sim/signature.ts';
import { normalizeReference, sniffAudio } from './audio.ts';
import { VoiceError } from './errors.ts';

const LIMITS = { minSeconds: 3, maxSeconds: 60, sampleRate: 24000 };
const work = mkdtempSync(join(tmpdir(), 'voicegate-audio-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** 6 s of the simulator's buzz at 250 Hz, stereo at 44.1 kHz (left and right alike). */
async function stereoWav(): Promise<Buffer> {
  const mono = await syntheticSource({ pitchHz: 250, msPerChar: 100 }).synthesize('x'.repeat(60), 'v', 1);
  // Pick samples onto 44.1 kHz (the buzz has little above 2 kHz, so this is clean enough).
  const n = Math.round((mono.samples.length * 44100) / 24000);
  const data = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    const s = mono.samples[Math.floor((i * 24000) / 44100)]!;
    data.writeInt16LE(s, i * 4);
    data.writeInt16LE(s, i * 4 + 2);
  }
  const head = Buffer.alloc(44);
  head.write('RIFF', 0);
  head.writeUInt32LE(36 + data.length, 4);
  head.write('WAVEfmt ', 8);
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20);
  head.writeUInt16LE(2, 22);
  head.writeUInt32LE(44100, 24);
  head.writeUInt32LE(44100 * 4, 28);
  head.writeUInt16LE(4, 32);
  head.writeUInt16LE(16, 34);
  head.write('data', 36);
  head.writeUInt32LE(data.length, 40);
  return Buffer.concat([head, data]);
}

/** The clip encoded by a Debian tool (flac, vorbis-tools, opus-tools, lame; .ci/run installs them). */
function encoded(wav: Buffer, tool: string, args: (input: string, output: string) => string[], ext: string): Buffer {
  const input = join(work, `in-${ext}.wav`);
  const output = join(work, `out.${ext}`);
  writeFileSync(input, wav);
  execFileSync(tool, args(input, output), { stdio: 'ignore' });
  return readFileSync(output);
}

describe('sniffAudio', () => {
  it('knows the containers by their bytes, whatever the file is called', async () => {
    const wav = await stereoWav();
    expect(sniffAudio(wav.subarray(0, 64))).toBe('wav');
    expect(sniffAudio(Buffer.from('fLaC\0\0\0\x22'))).toBe('flac');
    expect(sniffAudio(Buffer.concat([Buffer.from('OggS'), Buffer.alloc(24), Buffer.from('OpusHead')]))).toBe('ogg_opus');
    expect(sniffAudio(Buffer.concat([Buffer.from('OggS'), Buffer.alloc(25), Buffer.from('vorbis')]))).toBe('ogg_vorbis');
    expect(sniffAudio(Buffer.from('ID3\x04\0\0\0\0\0\0'))).toBe('mp3');
    expect(sniffAudio(Buffer.from([0xff, 0xfb, 0x90, 0x64]))).toBe('mp3');
    expect(sniffAudio(Buffer.from('This is a text file.\n'))).toBeNull();
    expect(sniffAudio(Buffer.from('{"name":"json"}'))).toBeNull();
    expect(sniffAudio(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBeNull(); // JPEG
    expect(sniffAudio(Buffer.from('RIFF\0\0\0\0AVI LIST'))).toBeNull();
  });
});

describe('normalizeReference', () => {
  it('turns stereo 44.1 kHz WAV into mono 24 kHz, keeping duration and pitch', async () => {
    const clip = await normalizeReference(await stereoWav(), LIMITS);
    expect(clip.format).toBe('wav');
    expect(clip.sourceSampleRate).toBe(44100);
    expect(clip.pcm.sampleRate).toBe(24000);
    expect(clip.durationSeconds).toBeCloseTo(6, 1);
    expect(clip.pcm.samples.length / 24000).toBeCloseTo(6, 1);
    expect(estimatePitchHz(clip.pcm.samples, 24000)).toBeCloseTo(250, -1);
  });

  it.each([
    ['flac', 'flac', (i: string, o: string) => ['-s', '-f', '-o', o, i], 'flac'],
    ['ogg_vorbis', 'oggenc', (i: string, o: string) => ['-Q', '-o', o, i], 'ogg'],
    ['ogg_opus', 'opusenc', (i: string, o: string) => ['--quiet', i, o], 'opus'],
    ['mp3', 'lame', (i: string, o: string) => ['--quiet', '-b', '128', i, o], 'mp3'],
  ] as const)('decodes %s (made by %s) to the same voice', async (format, tool, args, ext) => {
    const file = encoded(await stereoWav(), tool, args, ext);
    expect(sniffAudio(file.subarray(0, 64))).toBe(format);
    const clip = await normalizeReference(file, LIMITS);
    expect(clip.format).toBe(format);
    expect(clip.pcm.sampleRate).toBe(24000);
    // Encoders pad a little (mp3 a frame or two, opus its pre-skip).
    expect(clip.durationSeconds).toBeGreaterThan(5.9);
    expect(clip.durationSeconds).toBeLessThan(6.2);
    expect(estimatePitchHz(clip.pcm.samples, 24000)).toBeCloseTo(250, -1);
  });

  it('refuses what cannot be a reference, each with its own code', async () => {
    const wav = await stereoWav();
    const code = (bytes: Uint8Array, limits = LIMITS) =>
      normalizeReference(bytes, limits).then(
        () => 'accepted',
        (err: unknown) => (err instanceof VoiceError ? `${err.status} ${err.code}` : String(err)),
      );
    expect(await code(Buffer.from('hello, I am text'.repeat(10)))).toBe('415 unsupported_audio');
    expect(await code(wav, { ...LIMITS, minSeconds: 8 })).toBe('400 audio_too_short');
    expect(await code(wav, { ...LIMITS, maxSeconds: 5 })).toBe('400 audio_too_long');
    expect(await code(Buffer.concat([wav.subarray(0, 44), Buffer.alloc(wav.length - 44)]))).toBe('400 audio_silent');
    expect(await code(Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(4000, 7)]))).toBe('400 invalid_audio');
    expect(await code(Buffer.concat([Buffer.from('ID3\x04\0\0\0\0\0\0'), Buffer.alloc(4000, 0)]))).toBe('400 invalid_audio');
    expect(await code(encodeWav({ samples: new Int16Array(24000 * 4).fill(9000), sampleRate: 24000 }))).toBe('accepted');
  });
});
