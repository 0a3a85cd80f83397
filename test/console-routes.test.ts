/**
 * The console's HTTP side on both engines, without a browser: the page and its assets (gzip,
 * ETag, no traversal), the live feed as server-sent events, and the key rules (feed and tickets
 * need the key; a ticket opens one /v1/stream WebSocket, once).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { buildConsole, CONSOLE_BUNDLE } from '../src/console/build.ts';
import { StreamTickets } from '../src/server/console-routes.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { refusedUpgrade, StreamClient } from './helpers/stream-client.ts';
import { chooseEngine } from '../src/server/select.ts';

const KEY = 'console-test-key';
const engines = (['ws', 'uws'] as const).filter((e) => e === 'ws' || chooseEngine('auto').name === 'uws');

/** Reads server-sent events until `count` data frames came, then aborts. */
async function readFeed(url: string, headers: Record<string, string>, count: number): Promise<Record<string, unknown>[]> {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const frames: Record<string, unknown>[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      frames.push(JSON.parse(buffer.slice(0, end).replace(/^data: /, '')) as Record<string, unknown>);
      buffer = buffer.slice(end + 2);
    }
    if (frames.length >= count) break;
  }
  abort.abort();
  return frames;
}

describe.each(engines)('console routes (%s engine)', (engine) => {
  let fleet: SimFleet;
  let gateway: Gateway;
  let base: string;

  beforeAll(async () => {
    fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 10, rtf: 0.02 } });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0, engine },
      auth: { api_keys: [KEY] },
      pools: [{ name: 'sim', backend: 'openai', model: 'kokoro', voices: ['af_heart'], instances: fleet.instances.map((i) => ({ id: i.id, url: i.url })) }],
    });
    gateway = await createGateway({ config, healthChecks: false });
    base = `127.0.0.1:${await gateway.listen()}`;
  });
  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
  });

  it('serves the page and its assets without a key (they hold no data), gzipped and revalidated by ETag', async () => {
    const page = await fetch(`http://${base}/`, { headers: { 'accept-encoding': 'identity' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<script type="module" src="/console/app.js">');

    const raw = await fetch(`http://${base}/console/app.js`, { headers: { 'accept-encoding': 'identity' } });
    const plain = Buffer.from(await raw.arrayBuffer());
    expect(raw.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(raw.headers.get('content-encoding')).toBeNull();
    // fetch() would inflate it: compare the wire bytes with node's own inflate.
    const { request } = await import('node:http');
    const gz = await new Promise<{ encoding?: string; body: Buffer; etag?: string }>((resolve, reject) => {
      const [host, port] = base.split(':');
      request({ host, port, path: '/console/app.js', headers: { 'accept-encoding': 'gzip, br' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks), etag: res.headers.etag }));
      })
        .on('error', reject)
        .end();
    });
    expect(gz.encoding).toBe('gzip');
    expect(gunzipSync(gz.body).equals(plain)).toBe(true);
    expect(gz.body.length).toBeLessThan(plain.length / 2);

    const again = await fetch(`http://${base}/console/app.js`, { headers: { 'if-none-match': gz.etag! } });
    expect(again.status).toBe(304);
  });

  it('answers 404 for missing assets and anything outside the public folder', async () => {
    for (const path of ['/console/nope.js', '/console/../../package.json', '/console/%2e%2e/%2e%2e/package.json', '/console/..%2F..%2Fpackage.json', '/console/.gitignore']) {
      const res = await fetch(`http://${base}${path}`);
      expect(res.status, path).toBe(404);
    }
  });

  it('keeps the feed and tickets behind the key', async () => {
    expect((await fetch(`http://${base}/console/api/feed`)).status).toBe(401);
    expect((await fetch(`http://${base}/console/api/feed`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`http://${base}/console/api/ticket`, { method: 'POST' })).status).toBe(401);
  });

  it('streams the fleet view as server-sent events, more than once a second', async () => {
    const started = performance.now();
    const frames = await readFeed(`http://${base}/console/api/feed`, { authorization: `Bearer ${KEY}` }, 3);
    // First view at once, then the 500 ms tick: three views well inside 2.5 s even on a loaded machine.
    expect(performance.now() - started).toBeLessThan(2500);
    const pools = frames[0].pools as { name: string; instances: { id: string; health: string }[] }[];
    expect(pools.map((p) => p.name)).toEqual(['sim']);
    expect(pools[0].instances).toEqual([expect.objectContaining({ id: fleet.instances[0].id, health: 'up', capacity: 4 })]);
  });

  it('opens /v1/stream with a ticket, once, and never with none', async () => {
    const issue = async () => {
      const res = await fetch(`http://${base}/console/api/ticket`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { ticket: string }).ticket;
    };
    const ticket = await issue();
    // The playground's start, speed included: the simulator speaks twice as fast at 2.
    const audioMs: number[] = [];
    for (const [speed, t] of [[1, ticket], [2, await issue()]] as const) {
      const client = await StreamClient.started(`ws://${base}/v1/stream?session_id=ticketed-${speed}&ticket=${t}`, { type: 'start', voice: 'af_heart', format: { encoding: 'pcm_f32le', sample_rate: 24000 }, speed });
      client.send({ type: 'text', text: 'Hello from the console playground.' });
      client.send({ type: 'flush' });
      await client.waitType('turn_end');
      audioMs.push((client.events.find((e) => e.type === 'segment_end') as unknown as { audio_ms: number }).audio_ms);
      await client.close();
    }
    expect(audioMs[1]).toBeGreaterThan(audioMs[0] * 0.4);
    expect(audioMs[1]).toBeLessThan(audioMs[0] * 0.6);
    expect(await refusedUpgrade(`ws://${base}/v1/stream?ticket=${ticket}`)).toMatchObject({ status: 401 });
    expect(await refusedUpgrade(`ws://${base}/v1/stream`)).toMatchObject({ status: 401 });
    expect(await refusedUpgrade(`ws://${base}/v1/stream?ticket=made-up`)).toMatchObject({ status: 401 });
  });
});

describe('StreamTickets', () => {
  it('redeems a ticket once and not after it expires', () => {
    let now = 0;
    const tickets = new StreamTickets(1000, () => now);
    const a = tickets.issue().ticket;
    const b = tickets.issue().ticket;
    expect(a).not.toBe(b);
    expect(tickets.redeem(a)).toBe(true);
    expect(tickets.redeem(a)).toBe(false);
    now = 1000;
    expect(tickets.redeem(b)).toBe(false);
    expect(tickets.redeem(null)).toBe(false);
    expect(tickets.redeem('')).toBe(false);
  });
});

describe('the committed console bundle', () => {
  it('is what `npm run build:console` makes of src/console/app today', async () => {
    const built = Buffer.from(await buildConsole());
    // When this fails: run `npm run build:console` and commit src/console/public/app.js.
    expect(built.equals(readFileSync(CONSOLE_BUNDLE)), 'src/console/public/app.js is stale').toBe(true);
  });
});
