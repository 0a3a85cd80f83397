import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../audio/wav.ts';
import { parseConfig, poolOf } from '../config.ts';
import { startSimHarness, TEST_TIMEOUTS, type SimHarness } from '../../test/helpers/sim-harness.ts';
import { BackendError } from './backend.ts';
import { runBackendConformance } from './common.case.ts';
import { appConfig } from '../sim/gradio-server.ts';
import { KOKORO_VOICES } from '../sim/openai-server.ts';
import { GradioBackend, SseParser, gradioVoiceChoices } from './gradio.ts';
import { instructionsPassed } from './index.ts';

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
    expect((err as BackendError).code).toBe('http_5xx');
  });

  it('an unknown api_name → http_4xx (not retryable elsewhere)', async () => {
    const bad = await startSimHarness({ protocol: 'gradio', latency, options: { api_name: 'nope' } });
    try {
      const err = await drain(bad, 'af_heart').catch((e: unknown) => e);
      expect((err as BackendError).code).toBe('http_4xx');
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

describe('gradio inputs', () => {
  it('replaces $text, $voice, $speed, $language and $instructions; instructionsPassed follows $instructions', () => {
    const pool = (inputs: unknown[]) => poolOf(parseConfig({ pools: [{ name: 'g', backend: 'gradio', voices: ['af_heart'], language: 'en', instances: [{ url: 'http://x' }], options: { inputs } }] }).pools[0]!, 'gradio');
    const design = pool(['$text', '$instructions', '$voice', '$speed', '$language', 7]);
    const backend = new GradioBackend({ pool: design, instance: { id: 'g1', url: 'http://x' } });
    expect(backend.inputs({ text: 'Hi', voice: '', speed: 1.5, instructions: 'Warmly.' })).toEqual(['Hi', 'Warmly.', 'af_heart', 1.5, 'en', 7]);
    expect(backend.inputs({ text: 'Hi', voice: 'af_bella' })).toEqual(['Hi', '', 'af_bella', 1, 'en', 7]);
    expect(instructionsPassed(design)).toBe(true);
    expect(instructionsPassed(pool(['$text', '$voice', '$speed', true]))).toBe(false);
    void backend.close();
  });
});

describe("the voices a Gradio app's /config names", () => {
  const generateFirst = ['$text', '$voice', '$speed', true];
  it("reads the values (not the labels) of the endpoint's voice input, in Gradio 5 and 4", () => {
    for (const version of [5, 4] as const) {
      const config = appConfig('http://x', version);
      expect(gradioVoiceChoices(config, 'generate_first', generateFirst)).toEqual([...KOKORO_VOICES]);
      expect(gradioVoiceChoices(config, 'predict', ['$text', '$voice', '$speed'])).toEqual([...KOKORO_VOICES]);
    }
  });

  it('follows $voice to its position: the input there is the one whose choices count', () => {
    const config = {
      components: [
        { id: 1, type: 'dropdown', props: { choices: [['Model A', 'a']] } },
        { id: 2, type: 'radio', props: { choices: [['Heart', 'af_heart'], ['Bella', 'af_bella']] } },
      ],
      dependencies: [{ id: 0, api_name: 'speak', inputs: [9, 1, 2] }],
    };
    expect(gradioVoiceChoices(config, 'speak', ['$text', 'a', '$voice'])).toEqual(['af_heart', 'af_bella']);
    expect(gradioVoiceChoices(config, 'speak', ['$text', '$voice', 'x'])).toEqual(['a']);
  });

  it('Gradio 3 plain choices are values too', () => {
    const config = { components: [{ id: 2, props: { choices: ['v1', 'v2'] } }], dependencies: [{ api_name: 'go', inputs: [2] }] };
    expect(gradioVoiceChoices(config, 'go', ['$voice'])).toEqual(['v1', 'v2']);
  });

  it('says nothing (null) where the config does not name the voices', () => {
    const config = appConfig('http://x', 5);
    expect(gradioVoiceChoices(config, 'generate_first', ['$text', 'af_heart', '$speed', true])).toBeNull(); // no $voice input
    expect(gradioVoiceChoices(config, 'nope', generateFirst)).toBeNull(); // no such endpoint
    expect(gradioVoiceChoices(config, 'generate_first', ['$voice'])).toBeNull(); // a textbox: no choices
    const custom = structuredClone(config) as { components: { id: number; props: Record<string, unknown> }[] };
    custom.components.find((c) => c.id === 2)!.props.allow_custom_value = true;
    expect(gradioVoiceChoices(custom, 'generate_first', generateFirst)).toBeNull(); // any value is accepted
    expect(gradioVoiceChoices('<html>', 'generate_first', generateFirst)).toBeNull();
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
