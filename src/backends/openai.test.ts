import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, poolOf } from '../config.ts';
import { Metrics } from '../metrics.ts';
import { startSimHarness, TEST_TIMEOUTS, type SimHarness } from '../../test/helpers/sim-harness.ts';
import { BackendError } from './backend.ts';
import { runBackendConformance } from './common.case.ts';
import { errorMessageFromBody } from './http.ts';
import { instructionsPassed } from './index.ts';
import { OpenAIBackend } from './openai.ts';

const timeouts = { first_audio_ms: TEST_TIMEOUTS.first_audio_ms, stall_ms: TEST_TIMEOUTS.stall_ms };

runBackendConformance('openai (Kokoro-FastAPI, pcm)', () => startSimHarness({ protocol: 'openai', options: { response_format: 'pcm' } }), { timeouts });
runBackendConformance('openai (Kokoro-FastAPI, streamed wav, sizes 0)', () => startSimHarness({ protocol: 'openai', options: { response_format: 'wav' } }), { timeouts });
runBackendConformance(
  'openai (ChatTTS openai_api, streamed wav, sizes 0xFFFFFFFF)',
  () => startSimHarness({ protocol: 'chattts', options: { response_format: 'wav', extra_body: { stream: true } } }),
  { timeouts, voice: 'default' },
);

async function drain(h: SimHarness, voice: string, text = 'Hello.'): Promise<number> {
  let samples = 0;
  for await (const a of h.backend.synthesize({ text, voice }, new AbortController().signal)) {
    if ('samples' in a) samples += a.samples.length;
  }
  return samples;
}

describe('openai adapter: errors from the server', () => {
  let kokoro: SimHarness;
  let chattts: SimHarness;
  beforeAll(async () => {
    kokoro = await startSimHarness({ protocol: 'openai' });
    chattts = await startSimHarness({ protocol: 'chattts', options: { response_format: 'wav', extra_body: { stream: true } } });
  });
  afterAll(async () => {
    await kokoro.close();
    await chattts.close();
  });

  it('FastAPI {"detail":{…}} on an unknown voice → http_4xx with the message, not retryable', async () => {
    const err = await drain(kokoro, 'zz_nobody').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).code).toBe('http_4xx');
    expect((err as BackendError).status).toBe(400);
    expect((err as BackendError).message).toContain("Voice 'zz_nobody' not found");
    expect((err as BackendError).retryable).toBe(false);
  });

  it('OpenAI-style {"error":{message,type}} (ChatTTS) → message surfaced', async () => {
    const err = await drain(chattts, 'nobody').catch((e: unknown) => e);
    expect((err as BackendError).code).toBe('http_4xx');
    expect((err as BackendError).message).toContain('voice nobody is not available');
  });

  it('over capacity (max streams) → the configured status: 503 → http_5xx, 429 → http_429', async () => {
    const busy = await startSimHarness({ protocol: 'openai', latency: { max: 1, over_capacity_status: 429, first_audio_ms: 300 } });
    try {
      const first = drain(busy, 'af_heart');
      await new Promise((r) => setTimeout(r, 50));
      const err = await drain(busy, 'af_heart').catch((e: unknown) => e);
      expect((err as BackendError).code).toBe('http_429');
      expect(await first).toBeGreaterThan(0);
    } finally {
      await busy.close();
    }
  });

  it('counts errors by kind on voicegate_backend_errors_total', async () => {
    await kokoro.setFaults({ error_rate: 1, error_status: 503 });
    try {
      await expect(drain(kokoro, 'af_heart')).rejects.toMatchObject({ code: 'http_5xx', status: 503 });
    } finally {
      await kokoro.setFaults({ error_rate: 0 });
    }
    const text = await kokoro.metrics.render();
    expect(text).toMatch(/voicegate_backend_errors_total\{pool="sim",instance="sim-1",kind="http_5xx"\} 1/);
  });
});

describe('openai adapter: request shape', () => {
  let server: ReturnType<typeof createServer>;
  let url: string;
  const seen: Array<{ headers: IncomingHttpHeaders; body: Record<string, unknown>; path: string }> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        seen.push({ headers: req.headers, body: JSON.parse(Buffer.concat(parts).toString() || '{}') as Record<string, unknown>, path: req.url ?? '' });
        res.writeHead(200, { 'content-type': 'audio/pcm' });
        res.end(Buffer.alloc(4800, 1));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('sends model, input, voice, response_format, speed, extra body fields, the api key and custom path', async () => {
    const config = parseConfig({
      pools: [{
        name: 'p', backend: 'openai', model: 'kokoro', voices: ['af_heart'], instances: [{ url }],
        options: { api_key: 'sk-test', path: '/v2/speech', extra_body: { stream: true, lang_code: 'a' }, sample_rate: 16000 },
      }],
    });
    const backend = new OpenAIBackend({ pool: poolOf(config.pools[0]!, 'openai'), instance: { id: 'i', url }, metrics: new Metrics({ defaultMetrics: false }) });
    let samples = 0;
    let rate = 0;
    for await (const a of backend.synthesize({ text: 'Hi there', voice: '', speed: 1.2 }, new AbortController().signal)) {
      if ('samples' in a) {
        samples += a.samples.length;
        rate = a.sampleRate;
      }
    }
    await backend.close();
    expect(samples).toBe(2400);
    expect(rate).toBe(16000);
    const req = seen.at(-1)!;
    expect(req.path).toBe('/api/v2/speech');
    expect(req.headers.authorization).toBe('Bearer sk-test');
    expect(req.body).toEqual({ model: 'kokoro', input: 'Hi there', voice: 'af_heart', response_format: 'pcm', stream: true, lang_code: 'a', speed: 1.2 });
  });

  it('sends instructions when the caller gave some, unless send_instructions is off', () => {
    const make = (options: Record<string, unknown>) =>
      new OpenAIBackend({ pool: poolOf(parseConfig({ pools: [{ name: 'p', backend: 'openai', model: 'm', voices: ['v'], instances: [{ url }], options }] }).pools[0]!, 'openai'), instance: { id: 'i', url } });
    const on = make({});
    expect(JSON.parse(on.requestBody({ text: 'x', voice: 'v', instructions: 'Calmly.' }))).toMatchObject({ instructions: 'Calmly.' });
    expect(JSON.parse(on.requestBody({ text: 'x', voice: 'v' }))).not.toHaveProperty('instructions');
    expect(JSON.parse(make({ send_instructions: false }).requestBody({ text: 'x', voice: 'v', instructions: 'Calmly.' }))).not.toHaveProperty('instructions');
    expect(instructionsPassed(parseConfig({ pools: [{ name: 'p', backend: 'openai', voices: ['v'], instances: [{ url }] }] }).pools[0]!)).toBe(true);
    expect(instructionsPassed(parseConfig({ pools: [{ name: 'p', backend: 'openai', voices: ['v'], instances: [{ url }], options: { send_instructions: false } }] }).pools[0]!)).toBe(false);
  });

  it('an unknown or wrong option is a configuration error naming the field', () => {
    const parse = (options: unknown) => () => parseConfig({ pools: [{ name: 'p', backend: 'openai', voices: ['v'], instances: [{ url }], options }] });
    expect(parse({ respons_format: 'wav' })).toThrow(ConfigError);
    expect(parse({ respons_format: 'wav' })).toThrow(/pools\.0\.options: .*respons_format/);
    expect(parse({ response_format: 'mp3' })).toThrow(/pools\.0\.options\.response_format: .*"pcm"\|"wav"/);
  });
});

describe('errorMessageFromBody', () => {
  it.each([
    ['{"error":{"message":"bad voice","type":"invalid_request_error","param":null,"code":null}}', 'invalid_request_error: bad voice'],
    ['{"detail":{"error":"invalid_model","message":"Unsupported model","type":"invalid_request_error"}}', 'invalid_model: Unsupported model'],
    ['{"detail":"Queue is full"}', 'Queue is full'],
    ['{"detail":[{"type":"missing","loc":["body","input"],"msg":"Field required"}]}', 'Field required'],
    ['{"error":"plain string"}', 'plain string'],
    ['Internal Server Error', 'Internal Server Error'],
  ])('%s → %s', (body, expected) => {
    expect(errorMessageFromBody(body)).toBe(expected);
  });
});
