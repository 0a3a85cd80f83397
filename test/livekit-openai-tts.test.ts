/**
 * LiveKit agents-js's OpenAI TTS plugin (@livekit/agents-plugin-openai, unchanged) with its
 * `baseURL` at voicegate, on the default config: its defaults (tts-1, voice alloy, pcm) and the
 * gpt-4o-mini-tts / ash / instructions combination LiveKit's Python plugin defaults to both
 * synthesize audio frames without error.
 */
import { initializeLogger } from '@livekit/agents';
import * as openai from '@livekit/agents-plugin-openai';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';

let gateway: Gateway;
let baseURL: string;

beforeAll(async () => {
  initializeLogger({ pretty: false, level: 'warn' });
  const raw = parseYaml(await readFile(DEFAULT_CONFIG_PATH, 'utf8')) as Record<string, Record<string, unknown>>;
  gateway = await createGateway({ config: parseConfig({ ...raw, server: { ...raw.server, host: '127.0.0.1', port: 0 } }) });
  baseURL = `http://127.0.0.1:${await gateway.listen()}/v1`;
});
afterAll(() => gateway.close());

async function frames(tts: openai.TTS, text: string) {
  const out: { sampleRate: number; samples: Int16Array }[] = [];
  for await (const audio of tts.synthesize(text)) out.push({ sampleRate: audio.frame.sampleRate, samples: audio.frame.data });
  return out;
}

function rms(parts: { samples: Int16Array }[]): number {
  let sum = 0;
  let n = 0;
  for (const p of parts) {
    for (const s of p.samples) sum += s * s;
    n += p.samples.length;
  }
  return n ? Math.sqrt(sum / n) : 0;
}

describe('@livekit/agents-plugin-openai TTS against voicegate', () => {
  it.each([
    ['its own defaults (tts-1, alloy, pcm)', {}],
    ['gpt-4o-mini-tts, voice ash, with instructions', { model: 'gpt-4o-mini-tts', voice: 'ash', instructions: 'Speak in a cheerful tone.' }],
  ] as const)('%s: audio frames at 24 kHz, over a second, not silent', async (_name, options) => {
    const tts = new openai.TTS({ baseURL, apiKey: 'unused', ...options });
    try {
      const got = await frames(tts, 'Hello from voicegate. This is a LiveKit agent speaking.');
      expect(got.length).toBeGreaterThan(10);
      expect(got.every((f) => f.sampleRate === 24000)).toBe(true);
      const seconds = got.reduce((s, f) => s + f.samples.length, 0) / 24000;
      expect(seconds).toBeGreaterThan(1);
      expect(rms(got)).toBeGreaterThan(300);
    } finally {
      await tts.close();
    }
  });
});
