/**
 * `npm run say -- "Hello there." [--out out.wav] [--url ws://127.0.0.1:8080] [--voice en-us]
 *   [--session id] [--api-key key] [--rate 24000]`
 * Streams the text to a running gateway and writes what comes back as a WAV file.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { encodeWav } from '../audio/wav.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string', default: 'out.wav' },
    url: { type: 'string', default: process.env.VOICEGATE_URL ?? 'ws://127.0.0.1:8080' },
    voice: { type: 'string' },
    session: { type: 'string' },
    'api-key': { type: 'string', default: process.env.VOICEGATE_API_KEY },
    rate: { type: 'string', default: '24000' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help || positionals.length === 0) {
  process.stdout.write('usage: npm run say -- "text to speak" [--out out.wav] [--url ws://127.0.0.1:8080] [--voice en-us] [--session id] [--api-key key] [--rate 24000]\n');
  process.exit(values.help ? 0 : 2);
}

const sampleRate = Number(values.rate);
const url = new URL('/v1/stream', values.url);
if (values.session) url.searchParams.set('session_id', values.session);
const headers: Record<string, string> = values['api-key'] ? { authorization: `Bearer ${values['api-key']}` } : {};
const ws = new WebSocket(url, { headers });
const chunks: Buffer[] = [];
const started = performance.now();
let firstAudioMs: number | undefined;

ws.on('open', () => {
  const start: Record<string, unknown> = { type: 'start', format: { encoding: 'pcm_s16le', sample_rate: sampleRate } };
  if (values.voice) start.voice = values.voice;
  ws.send(JSON.stringify(start));
  ws.send(JSON.stringify({ type: 'text', text: positionals.join(' ') }));
  ws.send(JSON.stringify({ type: 'flush' }));
});

ws.on('message', (data, isBinary) => {
  if (isBinary) {
    firstAudioMs ??= performance.now() - started;
    chunks.push(data as Buffer);
    return;
  }
  const msg = JSON.parse(String(data));
  if (msg.type === 'ready') process.stderr.write(`ready: pool ${msg.pool}, instance ${msg.instance}\n`);
  else if (msg.type === 'segment') process.stderr.write(`segment ${msg.index} (${msg.provider}): ${msg.text}\n`);
  else if (msg.type === 'error') process.stderr.write(`error ${msg.code}: ${msg.message}\n`);
  else if (msg.type === 'turn_end') ws.close(1000);
});

ws.on('close', () => {
  const pcm = Buffer.concat(chunks);
  const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.byteLength >> 1);
  writeFileSync(values.out!, encodeWav({ samples, sampleRate }));
  const seconds = samples.length / sampleRate;
  process.stderr.write(`wrote ${values.out} (${seconds.toFixed(2)} s of audio; first audio after ${firstAudioMs?.toFixed(0) ?? '-'} ms)\n`);
});

ws.on('error', (err) => {
  process.stderr.write(`say: ${err.message}\n`);
  process.exit(1);
});
