/**
 * Fidelity: the official `@gradio/client` (queue protocol: /config, /gradio_api/info,
 * queue/join + queue/data) talks to the simulated Kokoro Space and gets a WAV it can fetch.
 */
import { Client } from '@gradio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWav } from '../src/audio/wav.ts';
import { gradioVoiceChoices } from '../src/backends/gradio.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';

interface FileOut {
  url: string;
  path: string;
}

describe('@gradio/client against the simulated Kokoro Space', () => {
  let fleet: SimFleet;
  beforeAll(async () => {
    fleet = await startSimFleet({
      instances: [{ protocol: 'gradio' }, { protocol: 'gradio4' }],
      controlPort: null,
      latency: { first_audio_ms: 20, rtf: 0.05 },
    });
  });
  afterAll(() => fleet.close());

  for (const [index, label] of [[0, 'Gradio 5 (/gradio_api)'], [1, 'Gradio 4 (no prefix)']] as const) {
    it(`${label}: predict('/generate_first') returns a WAV FileData and tokens`, async () => {
      const app = await Client.connect(fleet.instances[index]!.url);
      try {
        const api = await app.view_api();
        expect(Object.keys(api.named_endpoints)).toContain('/generate_first');
        const before = fleet.instances[index]!.requests();
        const result = await app.predict('/generate_first', { text: 'Hello from Gradio.', voice: 'af_bella', speed: 1, use_gpu: true });
        const [file, tokens] = result.data as [FileOut, string];
        expect(tokens).toBe('hello from gradio.');
        // It went through the simulated queue (queue/join), which admitted one stream.
        expect(fleet.instances[index]!.requests()).toBe(before + 1);
        expect(file.url).toContain(index === 0 ? '/gradio_api/file=' : '/file=');
        const wav = new Uint8Array(await (await fetch(file.url)).arrayBuffer());
        const pcm = decodeWav(wav);
        expect(pcm.sampleRate).toBe(24000);
        expect(pcm.samples.length / 24000).toBeCloseTo(1.26, 1);
      } finally {
        app.close();
      }
    });
  }

  it("the app's /config names the voice choices as Gradio serves them: [label, value] pairs whose values are /info's enum", async () => {
    const app = await Client.connect(fleet.instances[0]!.url);
    try {
      // The raw schema (the client's view_api() flattens the enum into a type name).
      const info = (await (await fetch(`${fleet.instances[0]!.url}/gradio_api/info`)).json()) as { named_endpoints: Record<string, { parameters: { parameter_name: string; type: { enum?: string[] } }[] }> };
      const voiceParam = info.named_endpoints['/generate_first']!.parameters.find((p) => p.parameter_name === 'voice')!;
      expect(voiceParam.type.enum).toHaveLength(28);
      const dropdown = app.config!.components.find((c: { type: string }) => c.type === 'dropdown')!;
      const choices = dropdown.props.choices as [string, string][];
      expect(choices.every((c) => Array.isArray(c) && c.length === 2 && c[0] !== c[1])).toBe(true);
      expect(gradioVoiceChoices(app.config, 'generate_first', ['$text', '$voice', '$speed', true])).toEqual(voiceParam.type.enum);
    } finally {
      app.close();
    }
  });

  it('an app error reaches the client as a rejected prediction', async () => {
    const app = await Client.connect(fleet.instances[0]!.url);
    try {
      await expect(app.predict('/generate_first', { text: 'x', voice: 'nobody', speed: 1, use_gpu: true })).rejects.toThrow(/Value: nobody is not in the list of choices/);
    } finally {
      app.close();
    }
  });
});
