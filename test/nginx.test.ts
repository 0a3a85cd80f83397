/**
 * deploy/nginx/ for real: the shipped voicegate.conf and voicegate-locations.conf (ports, paths
 * and upstream substituted) run in a real nginx in front of a real gateway on loopback, with a
 * self-signed certificate for the TLS server. A WebSocket call over wss gets ready, segments,
 * audio and turn_end; speech streams through unbuffered; body limits, /health, /ready, /metrics
 * and the plain-HTTP redirect behave. Needs the `nginx` and `openssl` binaries (.ci/run installs
 * nginx-light and openssl); without them this test fails. nginx is killed by its pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { freePort } from './helpers/ports.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const NGINX_DIR = join(ROOT, 'deploy/nginx');

function findBinary(name: string): string | null {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** Replaces `from` (which must occur exactly once) by `to`. */
function substitute(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`deploy/nginx: expected exactly one "${from}"`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** ms from the request to its first body byte, and to its end. */
  firstByteMs: number;
  endMs: number;
}

describe('nginx in front of the gateway (deploy/nginx)', () => {
  let sim: SimFleet;
  let gateway: Gateway;
  let nginx: ChildProcess | null = null;
  let dir = '';
  let cert = '';
  let tlsPort = 0;
  let httpPort = 0;
  let nginxLog = '';

  beforeAll(async () => {
    const nginxBin = findBinary('nginx');
    const opensslBin = findBinary('openssl');
    if (!nginxBin) throw new Error('nginx is not installed (apt-get install nginx-light); this test needs a real nginx');
    if (!opensslBin) throw new Error('openssl is not installed (apt-get install openssl)');

    sim = await startSimFleet({ count: 2, controlPort: null, latency: { first_audio_ms: 50, rtf: 0.3, chunk_ms: 50 } });
    gateway = await createGateway({
      config: parseConfig({
        server: { host: '127.0.0.1', port: 0 },
        pools: [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], instances: sim.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 8 })) }],
      }),
    });
    const gatewayPort = await gateway.listen();

    dir = mkdtempSync(join(tmpdir(), 'voicegate-nginx-'));
    for (const sub of ['logs', 'body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
    const key = join(dir, 'privkey.pem');
    const certPath = join(dir, 'fullchain.pem');
    const made = spawnSync(opensslBin, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certPath, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8', timeout: 20_000 });
    expect(made.status, made.stderr).toBe(0);
    cert = readFileSync(certPath, 'utf8');

    tlsPort = await freePort();
    httpPort = await freePort();
    let site = readFileSync(join(NGINX_DIR, 'voicegate.conf'), 'utf8');
    site = substitute(site, 'listen 80;', `listen 127.0.0.1:${httpPort};`);
    site = substitute(site, 'listen [::]:80;', '');
    site = substitute(site, 'listen 443 ssl http2;', `listen 127.0.0.1:${tlsPort} ssl http2;`);
    site = substitute(site, 'listen [::]:443 ssl http2;', '');
    site = substitute(site, 'server 127.0.0.1:8080 ', `server 127.0.0.1:${gatewayPort} `);
    site = substitute(site, '/etc/ssl/voicegate/fullchain.pem', certPath);
    site = substitute(site, '/etc/ssl/voicegate/privkey.pem', key);
    site = substitute(site, '/etc/nginx/snippets/voicegate-locations.conf', join(NGINX_DIR, 'voicegate-locations.conf'));
    writeFileSync(join(dir, 'voicegate.conf'), site);
    const main = [
      // Workers of a root master would switch to nobody, who cannot use these temp dirs.
      process.getuid?.() === 0 ? 'user root;' : '',
      'worker_processes 1;',
      `error_log ${join(dir, 'logs/error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${join(dir, 'logs/access.log')};`,
      `  client_body_temp_path ${join(dir, 'body')};`,
      `  proxy_temp_path ${join(dir, 'proxy')};`,
      `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
      `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
      `  scgi_temp_path ${join(dir, 'scgi')};`,
      `  include ${join(dir, 'voicegate.conf')};`,
      '}',
      '',
    ].join('\n');
    const confPath = join(dir, 'nginx.conf');
    writeFileSync(confPath, main);
    const args = ['-p', `${dir}/`, '-c', confPath, '-e', join(dir, 'logs/error.log'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`];
    const check = spawnSync(nginxBin, ['-t', ...args], { encoding: 'utf8', timeout: 10_000 });
    expect(check.status, check.stderr).toBe(0);

    nginx = spawn(nginxBin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr!.on('data', (d) => (nginxLog += String(d)));
    const deadline = performance.now() + 10_000;
    for (;;) {
      if (nginx.exitCode !== null) throw new Error(`nginx exited: ${nginxLog}`);
      const up = await get(`https://127.0.0.1:${tlsPort}/health`).then((r) => r.status === 200, () => false);
      if (up) break;
      if (performance.now() > deadline) throw new Error(`nginx did not come up: ${nginxLog}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 30_000);

  afterAll(async () => {
    if (nginx?.pid && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx!.once('exit', r));
      process.kill(nginx.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (nginx.exitCode === null && nginx.signalCode === null) process.kill(nginx.pid, 'SIGKILL');
    }
    await gateway?.close();
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function get(url: string, init: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const requestFn = url.startsWith('https:') ? httpsRequest : httpRequest;
      const req = requestFn(url, { method: init.method ?? 'GET', headers: init.headers, ca: cert || undefined, agent: false, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        let firstByteMs = -1;
        res.on('data', (d: Buffer) => {
          if (firstByteMs < 0) firstByteMs = performance.now() - started;
          chunks.push(d);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), firstByteMs, endMs: performance.now() - started }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.end(init.body);
    });
  }

  it('carries a WebSocket call over wss: ready, segments, audio, turn_end, and a clean close', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${tlsPort}/v1/stream?session_id=via-nginx`, { ca: cert });
    const events: Array<Record<string, unknown>> = [];
    let audioBytes = 0;
    const done = new Promise<void>((resolve, reject) => {
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          audioBytes += (data as Buffer).length;
          events.push({ type: 'audio' });
          return;
        }
        const event = JSON.parse(String(data)) as Record<string, unknown>;
        events.push(event);
        if (event.type === 'ready') {
          ws.send(JSON.stringify({ type: 'text', text: 'Hello through the proxy. ' }));
          ws.send(JSON.stringify({ type: 'text', text: 'This is the second sentence.' }));
          ws.send(JSON.stringify({ type: 'flush' }));
        }
        if (event.type === 'turn_end') resolve();
      });
      ws.once('open', () => ws.send(JSON.stringify({ type: 'start', voice: 'af_heart', format: { encoding: 'pcm_s16le', sample_rate: 24000 } })));
      ws.once('error', reject);
      setTimeout(() => reject(new Error(`call timed out: ${JSON.stringify(events.filter((e) => e.type !== 'audio'))}`)), 10_000);
    });
    await done;
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('ready');
    expect(events[0]).toMatchObject({ session_id: 'via-nginx', pool: 'kokoro' });
    expect(events.filter((e) => e.type === 'segment')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'segment_end')).toHaveLength(2);
    expect(types.indexOf('audio')).toBeGreaterThan(types.indexOf('segment'));
    expect(types.at(-1)).toBe('turn_end');
    // About 3 s of 24 kHz s16le speech from the simulator's timing model.
    expect(audioBytes).toBeGreaterThan(24_000 * 2);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.close(1000);
    expect(await closed).toBe(1000);
  }, 20_000);

  it('serves /health, /ready and /metrics through the proxy; plain HTTP redirects all but health', async () => {
    const health = await get(`https://127.0.0.1:${tlsPort}/health`);
    expect(health.status).toBe(200);
    const ready = await get(`https://127.0.0.1:${tlsPort}/ready`);
    expect(ready.status).toBe(200);
    const metrics = await get(`https://127.0.0.1:${tlsPort}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body.toString()).toMatch(/voicegate_instance_capacity\{pool="kokoro",instance="sim-1"\} 8/);
    expect((await get(`http://127.0.0.1:${httpPort}/ready`)).status).toBe(200);
    const redirect = await get(`http://127.0.0.1:${httpPort}/v1/models`);
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toMatch(/^https:\/\//);
  });

  it('streams /v1/audio/speech unbuffered: the first audio arrives long before the end', async () => {
    const input = 'Streaming speech through nginx must not be buffered. Every chunk should pass straight on. The caller hears the first words early.';
    const reply = await get(`https://127.0.0.1:${tlsPort}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tts-1', voice: 'af_heart', input, response_format: 'pcm' }),
    });
    expect(reply.status).toBe(200);
    expect(reply.body.length).toBeGreaterThan(24_000 * 2);
    // rtf 0.3 over ~8 s of audio: ~2.4 s to synthesize; buffered, the first byte would come at the end.
    expect(reply.firstByteMs).toBeLessThan(reply.endMs - 800);
  }, 20_000);

  it('body limits: nginx refuses far-oversized bodies; just above the gateway limit gets voicegate\'s JSON 413', async () => {
    const huge = await get(`https://127.0.0.1:${tlsPort}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(200 * 1024, 0x61) });
    expect(huge.status).toBe(413);
    expect(huge.body.toString()).toMatch(/nginx/);
    const over = JSON.stringify({ model: 'tts-1', voice: 'af_heart', input: 'a'.repeat(70 * 1024) });
    const json = await get(`https://127.0.0.1:${tlsPort}/v1/audio/speech`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: over });
    expect(json.status).toBe(413);
    expect(json.headers['content-type']).toMatch(/json/);
  });
});
