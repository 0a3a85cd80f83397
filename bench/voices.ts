/**
 * Voice library benchmark (issue 24), short and side by side in one process:
 *
 *   npx tsx bench/voices.ts            # 5 repetitions of each measurement
 *   npx tsx bench/voices.ts --quick    # 2
 *
 * 1. Decode + normalize a 10 s reference (mono 24 kHz) per upload format: WAV 44.1 kHz stereo,
 *    and FLAC, Ogg Vorbis, Ogg Opus, MP3 made from it by the Debian encoders (flac,
 *    vorbis-tools, opus-tools, lame: .ci/run installs them).
 * 2. POST /v1/audio/voices → 201 for a 10 s WAV through a gateway with 3 simulated instances
 *    (upload mode) and the fake Cartesia: parse + normalize + store + register everywhere +
 *    clone on the fallback.
 * 3. Time to first audio of a call whose pinned instance must first get the voice again (just
 *    restarted: the gateway registers it before the synthesis) versus the same call with the
 *    voice already there; and a 60 MB upload's refusal time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import WebSocket from 'ws';
import { encodeWav } from '../src/audio/wav.ts';
import { parseConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { syntheticSource } from '../src/sim/audio.ts';
import { startFakeCartesia } from '../src/sim/cartesia.ts';
import { startSimFleet } from '../src/sim/fleet.ts';
import { normalizeReference } from '../src/voices/audio.ts';

const REPS = process.argv.includes('--quick') ? 2 : 5;
const work = mkdtempSync(join(tmpdir(), 'voicegate-bench-voices-'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => x.toFixed(1);

async function reference(seconds: number, rate = 44100): Promise<Buffer> {
  const mono = await syntheticSource({ pitchHz: 300, msPerChar: 100 }).synthesize('x'.repeat(seconds * 10), 'r', 1);
  const n = Math.round((mono.samples.length * rate) / 24000);
  const stereo = new Int16Array(n);
  for (let i = 0; i < n; i++) stereo[i] = mono.samples[Math.floor((i * 24000) / rate)]!;
  return encodeWav({ samples: stereo, sampleRate: rate });
}

async function decodeBench(): Promise<void> {
  const wav = await reference(10);
  const input = join(work, 'ref.wav');
  writeFileSync(input, wav);
  const files: [string, Buffer][] = [['wav 44.1k', wav]];
  const encode = (name: string, tool: string, args: string[], out: string) => {
    execFileSync(tool, args, { stdio: 'ignore' });
    files.push([name, readFileSync(out)]);
  };
  encode('flac', 'flac', ['-s', '-f', '-o', join(work, 'r.flac'), input], join(work, 'r.flac'));
  encode('ogg vorbis', 'oggenc', ['-Q', '-o', join(work, 'r.ogg'), input], join(work, 'r.ogg'));
  encode('ogg opus', 'opusenc', ['--quiet', input, join(work, 'r.opus')], join(work, 'r.opus'));
  encode('mp3 128k', 'lame', ['--quiet', '-b', '128', input, join(work, 'r.mp3')], join(work, 'r.mp3'));
  console.log('| format | file KB | decode + normalize p50 ms | min ms |');
  console.log('|---|---|---|---|');
  for (const [name, bytes] of files) {
    await normalizeReference(bytes, { minSeconds: 3, maxSeconds: 60, sampleRate: 24000 }); // warm (wasm compile)
    const times: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const t = performance.now();
      await normalizeReference(bytes, { minSeconds: 3, maxSeconds: 60, sampleRate: 24000 });
      times.push(performance.now() - t);
    }
    console.log(`| ${name} | ${(bytes.length / 1024).toFixed(0)} | ${ms(median(times))} | ${ms(Math.min(...times))} |`);
  }
}

function firstAudioMs(url: string, voice: string): Promise<{ ms: number; instance: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let sent = 0;
    let instance = '';
    ws.on('open', () => ws.send(JSON.stringify({ type: 'start', voice, format: { encoding: 'pcm_s16le', sample_rate: 24000 } })));
    ws.on('message', (data, binary) => {
      if (binary) {
        resolve({ ms: performance.now() - sent, instance });
        ws.close();
        return;
      }
      const msg = JSON.parse(String(data)) as { type: string; instance?: string; message?: string };
      if (msg.type === 'ready') {
        instance = msg.instance ?? '';
        sent = performance.now();
        ws.send(JSON.stringify({ type: 'text', text: 'Hello there, how can I help you today?' }));
        ws.send(JSON.stringify({ type: 'flush' }));
      } else if (msg.type === 'error') reject(new Error(msg.message));
    });
    ws.on('error', reject);
  });
}

async function gatewayBench(): Promise<void> {
  const fleet = await startSimFleet({ count: 3, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 60, rtf: 0.2, chunk_ms: 100 } });
  const cartesia = await startFakeCartesia({ ttfaMs: 40 });
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0 },
    pools: [{ name: 'qwen', backend: 'openai', voices: ['af_heart'], instances: fleet.instances.map((i) => ({ id: i.id, url: i.url })), health: { interval_ms: 60_000 }, options: { voice_cloning: 'upload' } }],
    fallback: { backend: 'cartesia', url: cartesia.url },
    voices: { dir: join(work, 'voices') },
  });
  const gateway = await createGateway({ config });
  const port = await gateway.listen();
  const base = `http://127.0.0.1:${port}`;
  try {
    const wav = await reference(10, 24000);
    const uploads: number[] = [];
    let id = '';
    for (let i = 0; i < REPS; i++) {
      const form = new FormData();
      form.append('name', `bench ${i}`);
      form.append('audio', new Blob([wav], { type: 'audio/wav' }), 'ref.wav');
      const t = performance.now();
      const res = await fetch(`${base}/v1/audio/voices`, { method: 'POST', body: form });
      const body = (await res.json()) as { id: string };
      uploads.push(performance.now() - t);
      if (res.status !== 201) throw new Error(`upload ${res.status} ${JSON.stringify(body)}`);
      id = body.id;
    }
    console.log(`\nupload 10 s WAV (${(wav.length / 1024).toFixed(0)} KB) → 201, 3 instances registered + Cartesia clone: p50 ${ms(median(uploads))} ms, min ${ms(Math.min(...uploads))} ms (n=${REPS})`);

    const url = `ws://127.0.0.1:${port}/v1/stream`;
    const warm: number[] = [];
    const cold: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const key = `bench-${i}`;
      const first = await firstAudioMs(`${url}?session_id=${key}`, id);
      warm.push((await firstAudioMs(`${url}?session_id=${key}`, id)).ms);
      // Restart the pinned instance (it forgets the voice) faster than health checks notice.
      const inst = fleet.instance(first.instance)!;
      await inst.stop();
      await inst.start();
      cold.push((await firstAudioMs(`${url}?session_id=${key}`, id)).ms);
    }
    console.log(`first audio, voice on the instance: p50 ${ms(median(warm))} ms; after its restart (4xx → registered again → retried): p50 ${ms(median(cold))} ms (n=${REPS}; simulator first audio 60 ms)`);

    const boundary = 'bench';
    const chunk = Buffer.alloc(1024 * 1024, 1);
    async function* huge(): AsyncGenerator<Buffer> {
      yield Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="name"\r\n\r\nHuge\r\n--${boundary}\r\ncontent-disposition: form-data; name="audio"; filename="h.wav"\r\n\r\n`);
      yield wav.subarray(0, 44);
      for (let i = 0; i < 60; i++) yield chunk;
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    }
    const rss = process.memoryUsage().rss;
    const t = performance.now();
    const res = await request(`${base}/v1/audio/voices`, { method: 'POST', body: Readable.from(huge()), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    await res.body.dump();
    console.log(`60 MB chunked upload → ${res.statusCode} in ${ms(performance.now() - t)} ms (whole body read and dropped); RSS +${((process.memoryUsage().rss - rss) / 1024 / 1024).toFixed(1)} MB`);
  } finally {
    await gateway.close();
    await fleet.close();
    await cartesia.close();
  }
}

try {
  await decodeBench();
  await gatewayBench();
} finally {
  rmSync(work, { recursive: true, force: true });
}
