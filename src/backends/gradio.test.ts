import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../audio/wav.ts';
import { parseConfig, poolOf } from '../config.ts';
import { startSimHarness, TEST_TIMEOUTS, type SimHarness } from '../../test/helpers/sim-harness.ts';
import { BackendError } from './backend.ts';
import { runBackendConformance } from './common.case.ts';
import { GradioBackend, SseParser } from './gradio.ts';

const timeouts = { first_audio_ms: TEST_TIMEOUTS.first_audio_ms, stall_ms: TEST_TIMEOUTS.stall_ms };
// The app returns one file per segment, so the first audio waits for the whole segment: the
// first-audio deadline must cover the segment's synthesis (≈ 0.1 s here at rtf 0.02).
const latency = { first_audio_ms: 40, rtf: 0.02 };

runBackendConformance('gradio 5 (/gradio_api, prefix from /config)', () => startSimHarness({ protocol: 'gradio', latency }), { timeouts, incremental: false });
runBackendConformance('gradio 4 (no prefix, set explicitly)', () => startSimHarness({ protocol: 'gradio4', latency, options: { api_prefix: '' } }), {
  timeouts,
  incremental: false,
});

async function drain(h: SimHarness, voice: string): Promise<number> {
  let samples = 0;
  for await (const a of h.backend.synthesize({ text: 'Hello there.', voice }, new AbortController().signal)) {
    if ('samples' in a) samples += a.samples.length;
  }
  return samples;
}

describe('gradio adapter against the simulated Space', () => {
  let h: SimHarness;
  beforeAll(async () => {
    h = await startSimHarness({ protocol: 'gradio', latency, options: { api_name: 'predict', inputs: ['$text', '$voice', '$speed'] } });
  });
  afterAll(() => h.close());

  it('uses another endpoint (/predict) with its own inputs', async () => {
    expect(await drain(h, 'af_heart')).toBeGreaterThan(0);
  });

  it("an error event (the app raised: unknown voice) → http_5xx with Gradio's message", async () => {
    const err = await drain(h, 'zz_nobody').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).kind).toBe('http_5xx');
  });

  it('an unknown api_name → http_4xx (not retryable elsewhere)', async () => {
    const bad = await startSimHarness({ protocol: 'gradio', latency, options: { api_name: 'nope' } });
    try {
      const err = await drain(bad, 'af_heart').catch((e: unknown) => e);
      expect((err as BackendError).kind).toBe('http_4xx');
      expect((err as BackendError).status).toBe(404);
    } finally {
      await bad.close();
    }
  });
});

describe('gradio adapter: wire details', () => {
  let server: ReturnType<typeof createServer>;
  let base: string;
  const headers: IncomingHttpHeaders[] = [];
  const wav = encodeWav({ samples: new Int16Array(2400).fill(1000), sampleRate: 24000 });
  beforeAll(async () => {
    // A Space behind a proxy: heartbeats and a generating event before complete, CRLF line
    // ends, and a file url advertising a public host the gateway cannot reach.
    server = createServer((req, res) => {
      headers.push(req.headers);
      if (req.method === 'POST' && req.url === '/gradio_api/call/generate_first') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"event_id":"abc"}');
      } else if (req.url === '/gradio_api/call/generate_first/abc') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: heartbeat\r\ndata: null\r\n\r\n');
        res.write('event: generating\ndata: [null, "tok"]\n\n: comment\n');
        res.end('event: complete\ndata: [{"path": "/tmp/gradio/x/audio.wav", "url": "https://public.example/gradio_api/file=/tmp/gradio/x/audio.wav", "meta": {"_type": "gradio.FileData"}}, "tok"]\n\n');
      } else if (req.url === '/gradio_api/file=/tmp/gradio/x/audio.wav') {
        res.writeHead(200, { 'content-type': 'audio/wav' });
        res.end(wav);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('sends the HF token, skips heartbeats, and downloads the file from the configured host', async () => {
    const config = parseConfig({ pools: [{ name: 'g', backend: 'gradio', voices: ['af_heart'], instances: [{ url: base }], options: { api_prefix: '/gradio_api', hf_token: 'hf_secret' } }] });
    const backend = new GradioBackend({ pool: poolOf(config.pools[0]!, 'gradio'), instance: { id: 'g1', url: base } });
    let samples = 0;
    for await (const a of backend.synthesize({ text: 'Hi', voice: 'af_heart' }, new AbortController().signal)) if ('samples' in a) samples += a.samples.length;
    await backend.close();
    expect(samples).toBe(2400);
    expect(headers).toHaveLength(4); // /config (404 here: tolerated with an explicit prefix), /call, the event stream, the file
    for (const h of headers) expect(h.authorization).toBe('Bearer hf_secret');
  });
});

describe('SseParser', () => {
  it('parses events split anywhere (a CRLF split across chunks included), with LF, CRLF, comments and multi-line data', () => {
    const text = 'event: generating\r\ndata: [1,\r\ndata: 2]\r\n\r\n: keepalive\n\nevent: complete\ndata: ["ok"]\n\n';
    const bytes = new TextEncoder().encode(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(bytes.subarray(0, cut)), ...parser.push(bytes.subarray(cut))];
      expect(events).toEqual([
        { event: 'generating', data: '[1,\n2]' },
        { event: 'complete', data: '["ok"]' },
      ]);
    }
  });
});
