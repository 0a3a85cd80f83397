/**
 * The `say` client as a person runs it (`npm run say -- "…"`), against a gateway on the
 * embedded engine, and the session log lines that call leaves.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWav } from '../src/audio/wav.ts';
import { loadConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { logCapture } from './helpers/log.ts';

const run = promisify(execFile);

describe('npm run say', () => {
  let gateway: Gateway;
  let port: number;
  const log = logCapture('info');
  const lines = () => log.records();

  beforeAll(async () => {
    const config = loadConfig({ PORT: '0' });
    config.server.host = '127.0.0.1';
    gateway = await createGateway({ config, logger: log.logger });
    port = await gateway.listen();
  });

  afterAll(async () => {
    await gateway.close();
  });

  it('writes a playable WAV of the spoken text, and the session logs its start and end', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'vg-say-')), 'hello.wav');
    const { stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/say.ts', 'Hello there. This is voicegate speaking.', '--out', out, '--url', `ws://127.0.0.1:${port}`, '--session', 'say-test-1'], { timeout: 30_000 });
    expect(stderr).toMatch(/segment 0 \(espeak-\d\): Hello there\./);
    const pcm = decodeWav(readFileSync(out));
    expect(pcm.sampleRate).toBe(24000);
    const seconds = pcm.samples.length / pcm.sampleRate;
    expect(seconds).toBeGreaterThan(1);
    let peak = 0;
    for (const s of pcm.samples) peak = Math.max(peak, Math.abs(s));
    expect(peak).toBeGreaterThan(3000);

    await expect.poll(() => lines().some((l) => l.msg === 'session end' && l.session_id === 'say-test-1')).toBe(true);
    const start = lines().find((l) => l.msg === 'session start' && l.session_id === 'say-test-1')!;
    const end = lines().find((l) => l.msg === 'session end' && l.session_id === 'say-test-1')!;
    expect(start.instance).toMatch(/^espeak-\d$/);
    expect(end).toMatchObject({ instance: start.instance, segments: 2 });
    expect(Math.abs((end.audio_seconds as number) - seconds)).toBeLessThan(0.05);
    expect(lines().some((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('listening on') && l.engine)).toBe(true);
  });
});
