/**
 * Every config/examples/*.yaml parses, its documented `npm run sim` command matches its
 * instances (protocol, count, default ports), and every backend it configures speaks one
 * sentence against a simulator started for it (on free ports, so tests never collide).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { bytesPerSample } from '../src/audio/format.ts';
import { parseConfig } from '../src/config.ts';
import { Metrics } from '../src/metrics.ts';
import { createBackend } from '../src/backends/index.ts';
import { createCartesiaBackend } from '../src/backends/cartesia/backend.ts';
import type { Backend } from '../src/backends/backend.ts';
import { startSimFleet } from '../src/sim/fleet.ts';
import { SIM_PROTOCOLS, type SimProtocol } from '../src/sim/instance.ts';

const dir = fileURLToPath(new URL('../config/examples/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

interface SimLine {
  protocol: SimProtocol;
  count: number;
  cartesia: boolean;
}

function simLine(text: string, file: string): SimLine {
  const line = /^# sim: (.*)$/m.exec(text)?.[1];
  if (!line) throw new Error(`${file}: no "# sim: …" line naming the simulator flags`);
  const protocol = /--protocol (\S+)/.exec(line)?.[1] as SimProtocol;
  expect(SIM_PROTOCOLS).toContain(protocol);
  return { protocol, count: Number(/--count (\d+)/.exec(line)?.[1] ?? 3), cartesia: line.includes('--cartesia') };
}

async function speak(backend: Backend, voice: string): Promise<number> {
  let seconds = 0;
  for await (const audio of backend.synthesize({ text: 'Hello from the example configuration.', voice }, AbortSignal.timeout(5000))) {
    seconds += 'samples' in audio ? audio.samples.length / audio.sampleRate : audio.bytes.length / bytesPerSample(audio.encoding) / audio.sampleRate;
  }
  return seconds;
}

describe('config/examples', () => {
  it('has the documented examples', () => {
    expect(files.sort()).toEqual(['chattts.yaml', 'cluster.yaml', 'kokoro-fastapi.yaml', 'kokoro-gradio.yaml', 'mixed-cartesia.yaml']);
  });

  for (const file of files) {
    it(`${file}: parses, matches its sim command, and every backend speaks`, async () => {
      const text = readFileSync(dir + file, 'utf8');
      const sim = simLine(text, file);
      const raw = parseYaml(text) as { pools: Array<{ instances: Array<{ url: string }> }>; fallback?: { url: string } };
      const config = parseConfig(raw, {}, file);
      const pool = config.pools[0]!;
      // The default sim ports: instance n on 9001 + n - 1, fake Cartesia on 9100.
      expect(pool.instances.map((i) => i.url)).toEqual(Array.from({ length: sim.count }, (_, i) => `http://127.0.0.1:${9001 + i}`));
      if (sim.cartesia) expect(config.fallback?.url).toBe('ws://127.0.0.1:9100/tts/websocket');

      const fleet = await startSimFleet({ count: sim.count, protocol: sim.protocol, controlPort: null, latency: { first_audio_ms: 10, rtf: 0.02 }, cartesiaPort: sim.cartesia ? 0 : undefined });
      const metrics = new Metrics({ defaultMetrics: false });
      const backends: Backend[] = [];
      try {
        for (const [i, instance] of pool.instances.entries()) {
          const backend = createBackend(pool, { ...instance, id: instance.id!, url: fleet.instances[i]!.url }, { metrics });
          backends.push(backend);
          await backend.check(AbortSignal.timeout(2000));
          expect(await speak(backend, pool.voices[0]!)).toBeGreaterThan(1);
        }
        if (config.fallback) {
          expect(fleet.cartesia).not.toBeNull();
          const cartesia = createCartesiaBackend({ ...config.fallback, url: fleet.cartesia!.url }, { metrics });
          backends.push(cartesia);
          expect(await speak(cartesia, pool.voices[0]!)).toBeGreaterThan(1);
        }
      } finally {
        await Promise.all(backends.map((b) => b.close()));
        await fleet.close();
      }
    });
  }
});
