import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, instanceIdFromUrl, loadConfig, parseConfig } from './config.ts';

const pool = { name: 'p', backend: 'openai', voices: ['v'], instances: [{ url: 'http://10.0.0.1:8880' }] };

describe('config', () => {
  it('loads config/default.yaml: the embedded engine on port 8080, no GPU', () => {
    const config = loadConfig({});
    expect(config.server.port).toBe(8080);
    expect(config.server.engine).toBe('auto');
    expect(config.pools[0]!.backend).toBe('espeak');
    expect(config.pools[0]!.instances.length).toBeGreaterThan(0);
    expect(config.fallback).toBeUndefined();
  });

  it('fills every default from the schema', () => {
    const config = parseConfig({ pools: [pool] });
    const p = config.pools[0]!;
    expect(p.timeouts).toEqual({ connect_ms: 1000, first_audio_ms: 1500, stall_ms: 2000 });
    expect(p.queue_ms).toBe(250);
    expect(p.load_epsilon).toBe(0.25);
    expect(p.instances[0]!.max_concurrency).toBe(4);
    expect(config.session.lookahead).toBe(2);
    expect(config.auth.api_keys).toEqual([]);
  });

  it('lets PORT, LOG_LEVEL and VOICEGATE_INSTANCES override the file', () => {
    const config = parseConfig({ pools: [{ ...pool, instances: [{ url: 'http://x:1', max_concurrency: 6 }] }] }, { PORT: '9999', LOG_LEVEL: 'debug', VOICEGATE_INSTANCES: 'http://10.0.0.11:8880, http://10.0.0.12:8880' });
    expect(config.server.port).toBe(9999);
    expect(config.log.level).toBe('debug');
    expect(config.pools[0]!.instances.map((i) => i.url)).toEqual(['http://10.0.0.11:8880', 'http://10.0.0.12:8880']);
    expect(config.pools[0]!.instances.map((i) => i.max_concurrency)).toEqual([6, 6]);
  });

  it('derives stable instance ids from URLs', () => {
    const a = instanceIdFromUrl('http://10.0.0.11:8880');
    expect(a).toBe(instanceIdFromUrl('http://10.0.0.11:8880'));
    expect(a).toMatch(/^10\.0\.0\.11-8880-[0-9a-f]{6}$/);
    expect(a).not.toBe(instanceIdFromUrl('http://10.0.0.12:8880'));
    const config = parseConfig({ pools: [pool] });
    expect(config.pools[0]!.instances[0]!.id).toBe(instanceIdFromUrl('http://10.0.0.1:8880'));
  });

  it('expands ${VAR} from the environment', () => {
    const config = parseConfig({ pools: [pool], fallback: { backend: 'cartesia', api_key: '${CARTESIA_API_KEY}' } }, { CARTESIA_API_KEY: 'sk-123' });
    expect(config.fallback!.api_key).toBe('sk-123');
  });

  it('names the field and what was expected when the config is bad', () => {
    const bad = (raw: unknown, pattern: RegExp) => {
      expect(() => parseConfig(raw, {}, 'my.yaml')).toThrow(ConfigError);
      expect(() => parseConfig(raw, {}, 'my.yaml')).toThrow(pattern);
    };
    bad({ pools: [{ ...pool, instances: [{ url: 'http://a', max_concurrency: 'four' }] }] }, /my\.yaml[\s\S]*pools\.0\.instances\.0\.max_concurrency: .*number/);
    bad({ server: { engine: 'turbo' }, pools: [pool] }, /server\.engine: .*(uws|auto)/);
    bad({ pools: [] }, /pools: /);
    bad({ pools: [{ ...pool, backend: 'gpu-magic' }] }, /pools\.0\.backend/);
    bad({ pools: [{ ...pool, instances: [{}] }] }, /pools\.p\.instances\.0\.url: required for backend openai/);
    bad({ pools: [pool, pool] }, /duplicate pool name p/);
    // Every backend's options are part of the schema: a wrong value or a key of another backend.
    bad({ pools: [{ ...pool, options: { response_format: 'mp3' } }] }, /pools\.0\.options\.response_format: /);
    bad({ pools: [{ ...pool, backend: 'gradio', options: { output_index: -1 } }] }, /pools\.0\.options\.output_index: /);
    bad({ pools: [{ ...pool, backend: 'espeak', options: { response_format: 'pcm' } }] }, /pools\.0\.options: .*"response_format"/);
    bad({ pools: [{ ...pool, backend: 'cartesia', options: { voice_map: { af: 7 } } }] }, /pools\.0\.options\.voice_map\.af: /);
    bad({ pools: [pool], session: { min_segment_chars: 300 } }, /session\.min_segment_chars: .*below session\.soft_max_segment_chars/);
    bad({ pools: [pool], audio: { resampler_passband: 1.2 } }, /audio\.resampler_passband: /);
  });

  it('is one line per error, whatever the number of issues', () => {
    expect(() => parseConfig({ pools: [{ ...pool, options: { response_format: 'mp3', sample_rate: 'x' } }] }, {}, 'my.yaml')).toThrow(/^[^\n]*response_format[^\n]*; [^\n]*sample_rate[^\n]*$/);
  });

  it('fills each backend\'s options and the session and audio defaults', () => {
    const config = parseConfig({ pools: [pool, { name: 'e', backend: 'espeak', voices: ['en'], instances: [{}] }, { name: 'c', backend: 'cartesia', voices: ['x'], instances: [{ url: 'ws://c' }] }] });
    expect(config.pools[0]!.options).toMatchObject({ response_format: 'pcm', sample_rate: 24_000, voice_cloning: 'none' });
    expect(config.pools[1]!.options).toEqual({ chunk_ms: 200 });
    expect(config.pools[2]!.options).toEqual({ api_key: '', version: '2025-04-16', voice_map: {} });
    expect(config.session).toMatchObject({ min_segment_chars: 20, soft_max_segment_chars: 300, retry_budget: { ratio: 0.2, min_per_second: 3, window_s: 10 } });
    expect(config.audio).toEqual({ resampler_stopband_db: 60, resampler_passband: 0.85 });
  });

  it('reports a missing file and invalid YAML clearly', () => {
    expect(() => loadConfig({ VOICEGATE_CONFIG: '/nonexistent/voicegate.yaml' })).toThrow(/cannot read config file \/nonexistent\/voicegate\.yaml/);
    const dir = mkdtempSync(join(tmpdir(), 'vg-config-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'pools: [\n  - name: x\n    voices: [a\n');
    expect(() => loadConfig({ VOICEGATE_CONFIG: file })).toThrow(/not valid YAML/);
  });
});

describe('compat voice maps', () => {
  const pools = [{ name: 'kokoro', backend: 'openai', voices: ['af_heart'], instances: [{ url: 'http://127.0.0.1:9001' }] }];

  it('default to empty maps for every protocol', () => {
    const config = parseConfig({ pools });
    expect(config.compat).toEqual({ cartesia: { voice_map: {} }, elevenlabs: { voice_map: {} }, deepgram: { voice_map: {} } });
  });

  it('refuse a mapping to a voice no pool speaks, naming the key', () => {
    expect(() => parseConfig({ pools, compat: { deepgram: { voice_map: { 'aura-2-thalia-en': 'af_nobody' } } } })).toThrow(/compat\.deepgram\.voice_map\.aura-2-thalia-en: "af_nobody" is not a voice of any pool/);
    expect(parseConfig({ pools, compat: { deepgram: { voice_map: { 'aura-2-thalia-en': 'af_heart' } } } }).compat.deepgram.voice_map).toEqual({ 'aura-2-thalia-en': 'af_heart' });
  });
});

describe('cluster and workers keys', () => {
  const pools = [{ name: 'p', backend: 'espeak', voices: ['en'], instances: [{}] }];
  it('defaults: no Redis, one worker, lease 3 s, pins 600 s, Redis bound 50 ms', () => {
    const config = parseConfig({ pools });
    expect(config.cluster).toEqual({ lease_ttl_ms: 3000, pin_ttl_s: 600, command_timeout_ms: 50 });
    expect(config.server.workers).toBe(1);
  });
  it('accepts auto workers and a redis url; refuses a redis_url that is not a URL', () => {
    const config = parseConfig({ pools, server: { workers: 'auto' }, cluster: { redis_url: 'redis://127.0.0.1:6379' } });
    expect(config.server.workers).toBe('auto');
    expect(config.cluster.redis_url).toBe('redis://127.0.0.1:6379');
    expect(() => parseConfig({ pools, cluster: { redis_url: 'not a url' } })).toThrow(/cluster\.redis_url/);
    expect(() => parseConfig({ pools, server: { workers: 0 } })).toThrow(/server\.workers/);
  });
});
