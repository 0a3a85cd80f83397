/**
 * Drop-in front ends (issue 22): time to first audio of Cartesia /tts/websocket, ElevenLabs
 * multi-stream-input and Deepgram /v1/speak next to the native /v1/stream, on the same
 * simulated fleet, in the same run, turn by turn in rotating order so drift hits all alike.
 *
 *   npx tsx bench/compat-ttfa.ts              # 150 turns per protocol
 *   npx tsx bench/compat-ttfa.ts --turns 40   # quicker
 *
 * One process: two fake GPU instances (openai protocol, 20 ms to first audio, rtf 0.05,
 * 100 ms chunks), one gateway (engine auto), one persistent socket per protocol. Each turn
 * sends one sentence and the protocol's end of turn in the same tick, and measures from the
 * first of those sends to the first audio byte at the client, then waits for the turn to end.
 * The added TTFA of a front end is its p50 minus the native p50.
 */
import WebSocket from 'ws';
import { parseConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { startSimFleet } from '../src/sim/fleet.ts';

const turnsArg = process.argv.indexOf('--turns');
const TURNS = turnsArg > 0 ? Number(process.argv[turnsArg + 1]) : 150;
const TEXT = 'Hello there, how are you doing today?';
const KEY = 'bench-key';

interface Client {
  readonly name: string;
  /** Sends one turn; resolves with ms from its first send to the first audio, after the turn ended. */
  turn(n: number): Promise<number>;
  close(): void;
}

/** Opens a socket; `first` is its first message (a greeting can share the upgrade's packet). */
function open(url: string, headers: Record<string, string>): Promise<{ ws: WebSocket; first: Promise<unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const first = new Promise((r) => ws.once('message', r));
    ws.once('open', () => resolve({ ws, first }));
    ws.once('error', reject);
  });
}

/** A turn driver over one socket: `isAudio` and `isEnd` classify incoming messages. */
function driver(name: string, ws: WebSocket, send: (n: number) => void, isAudio: (data: Buffer, binary: boolean) => boolean, isEnd: (data: Buffer, binary: boolean, n: number) => boolean): Client {
  let current: { n: number; sentAt: number; firstAt: number; resolve: (ms: number) => void } | null = null;
  ws.on('message', (data: Buffer, binary) => {
    const c = current;
    if (!c) return;
    if (c.firstAt === 0 && isAudio(data, binary)) c.firstAt = performance.now();
    if (isEnd(data, binary, c.n)) {
      current = null;
      c.resolve(c.firstAt - c.sentAt);
    }
  });
  return {
    name,
    turn: (n) =>
      new Promise((resolve) => {
        current = { n, sentAt: performance.now(), firstAt: 0, resolve };
        send(n);
      }),
    close: () => ws.close(),
  };
}

const jsonOf = (data: Buffer, binary: boolean): Record<string, unknown> | null => (binary ? null : (JSON.parse(String(data)) as Record<string, unknown>));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const fleet = await startSimFleet({ count: 2, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.05, chunk_ms: 100, comfortable: 1000, max: 1000 } });
  const gateway = await createGateway({
    config: parseConfig({
      server: { host: '127.0.0.1', port: 0 },
      auth: { api_keys: [KEY] },
      pools: [{ name: 'kokoro', backend: 'openai', model: 'kokoro', voices: ['af_heart'], instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 16 })) }],
    }),
  });
  const port = await gateway.listen();
  while ((await fetch(`http://127.0.0.1:${port}/ready`)).status !== 200) await new Promise((r) => setTimeout(r, 50));
  const base = `ws://127.0.0.1:${port}`;

  const nativeSocket = await open(`${base}/v1/stream?session_id=bench`, { authorization: `Bearer ${KEY}` });
  const native = nativeSocket.ws;
  native.send(JSON.stringify({ type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: 16000 } }));
  await nativeSocket.first; // ready
  const cartesia = (await open(`${base}/tts/websocket?session_id=bench`, { 'x-api-key': KEY, 'cartesia-version': '2026-03-01' })).ws;
  const eleven = (await open(`${base}/v1/text-to-speech/af_heart/multi-stream-input?output_format=pcm_16000&session_id=bench`, { 'xi-api-key': KEY })).ws;
  const deepgramSocket = await open(`${base}/v1/speak?model=af_heart&encoding=linear16&sample_rate=16000&session_id=bench`, { authorization: `Token ${KEY}` });
  const deepgram = deepgramSocket.ws;
  await deepgramSocket.first; // Metadata

  const CARTESIA_REQUEST = { model_id: 'sonic-3', voice: { mode: 'id', id: 'af_heart' }, output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 16000 }, max_buffer_delay_ms: 0 };
  const clients: Client[] = [
    driver(
      'native /v1/stream',
      native,
      () => {
        native.send(JSON.stringify({ type: 'text', text: TEXT }));
        native.send('{"type":"flush"}');
      },
      (_d, bin) => bin,
      (d, bin) => !bin && jsonOf(d, bin)!.type === 'turn_end',
    ),
    driver(
      'Cartesia /tts/websocket',
      cartesia,
      (n) => cartesia.send(JSON.stringify({ ...CARTESIA_REQUEST, context_id: `t${n}`, transcript: TEXT, continue: false })),
      (d, bin) => jsonOf(d, bin)?.type === 'chunk',
      (d, bin) => jsonOf(d, bin)?.type === 'done',
    ),
    driver(
      'ElevenLabs multi-stream-input',
      eleven,
      (n) => {
        eleven.send(JSON.stringify({ text: ' ', context_id: `t${n}` }));
        eleven.send(JSON.stringify({ text: `${TEXT} `, context_id: `t${n}` }));
        eleven.send(JSON.stringify({ text: '', context_id: `t${n}`, flush: true }));
        eleven.send(JSON.stringify({ context_id: `t${n}`, close_context: true }));
      },
      (d, bin) => typeof jsonOf(d, bin)?.audio === 'string',
      (d, bin) => jsonOf(d, bin)?.isFinal === true,
    ),
    driver(
      'Deepgram /v1/speak',
      deepgram,
      () => {
        deepgram.send(JSON.stringify({ type: 'Speak', text: TEXT }));
        deepgram.send('{"type":"Flush"}');
      },
      (_d, bin) => bin,
      (d, bin) => !bin && jsonOf(d, bin)!.type === 'Flushed',
    ),
  ];

  const samples = new Map<string, number[]>(clients.map((c) => [c.name, []]));
  const WARMUP = 5;
  for (let n = 0; n < TURNS + WARMUP; n++) {
    // Rotate the order so no protocol always goes first after an idle gap.
    for (let k = 0; k < clients.length; k++) {
      const client = clients[(n + k) % clients.length]!;
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<number>((_, reject) => (timer = setTimeout(() => reject(new Error(`${client.name}: turn ${n} did not end within 10 s`)), 10_000)));
      const ms = await Promise.race([client.turn(n), stuck]);
      clearTimeout(timer);
      if (n >= WARMUP) samples.get(client.name)!.push(ms);
    }
  }

  const nativeP50 = percentile([...samples.get(clients[0]!.name)!].sort((a, b) => a - b), 50);
  console.log(`${TURNS} turns per protocol, engine ${gateway.engine}, "${TEXT}" at 16 kHz s16le, ms from the turn's first send to the first audio byte`);
  console.log('| front end | p50 | p90 | p99 | added p50 vs native |');
  console.log('|---|---|---|---|---|');
  for (const client of clients) {
    const sorted = [...samples.get(client.name)!].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    console.log(`| ${client.name} | ${p50.toFixed(2)} | ${percentile(sorted, 90).toFixed(2)} | ${percentile(sorted, 99).toFixed(2)} | ${client === clients[0] ? '—' : `${(p50 - nativeP50 >= 0 ? '+' : '')}${(p50 - nativeP50).toFixed(2)}`} |`);
  }
  for (const c of clients) c.close();
  await gateway.close();
  await fleet.close();
}

await main();
