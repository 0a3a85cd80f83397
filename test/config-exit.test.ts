/**
 * `voicegate` with a configuration it cannot run: the real entry point (src/main.ts) in a child
 * process exits 2 (systemd's RestartPreventExitStatus=2 then stops) with one line on stderr
 * naming the field, and no stack trace.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'voicegate-config-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(yaml: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, yaml);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, VOICEGATE_CONFIG: path, PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  // A gateway that started after all is stopped here (by its pid) so the test ends by itself.
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stderr, stdout });
    }),
  );
}

const pool = (options: string) => `pools:\n  - name: gpu\n    backend: openai\n    voices: [af_heart]\n    instances: [{ url: "http://127.0.0.1:9" }]\n    options: ${options}\n`;

describe('voicegate with a bad configuration', () => {
  it.each([
    ['pools[0].options.response_format: mp3', pool('{ response_format: mp3 }'), /^voicegate: invalid configuration in .*: pools\.0\.options\.response_format: .*"pcm"\|"wav"/],
    ['a misspelt option', pool('{ respons_format: wav }'), /^voicegate: invalid configuration in .*: pools\.0\.options: .*"respons_format"/],
    ['a gradio option on an openai pool', pool('{ api_name: predict }'), /pools\.0\.options: .*"api_name"/],
    ['an unknown backend', 'pools:\n  - { name: x, backend: gpu-magic, voices: [a], instances: [{ url: "http://127.0.0.1:9" }] }\n', /pools\.0\.backend: expected one of openai, gradio, espeak, cartesia/],
    ['a YAML syntax error', 'pools: [\n  - name: x\n', /^voicegate: config file .* is not valid YAML: /],
  ])('%s: exit 2, one line naming the field, no stack trace', { timeout: 60_000 }, async (_name, yaml, pattern) => {
    const { code, stderr } = await run(yaml);
    expect(code).toBe(2);
    expect(stderr).toMatch(pattern);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
