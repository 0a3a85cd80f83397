/**
 * `npm run sim -- [options]`: starts a fleet of fake GPU TTS servers (and optionally a fake
 * Cartesia) on loopback ports, with a control endpoint for fault injection at run time.
 * See docs/simulator.md.
 */
import { parseArgs } from 'node:util';
import type { Faults } from './faults.ts';
import { startSimFleet, parseFaultsPatch } from './fleet.ts';
import { SIM_PROTOCOLS, type SimProtocol } from './instance.ts';
import { DEFAULT_LATENCY, type LatencyModel } from './latency.ts';

const HELP = `voicegate simulator: fake GPU TTS instances for testing the gateway without GPUs

Usage: npm run sim -- [options]

Fleet
  --protocol <p>        openai (Kokoro-FastAPI), chattts (ChatTTS openai_api),
                        gradio (Kokoro Space, Gradio 5), gradio4 (Gradio 4)   [openai]
  --count <n>           instances                                              [3]
  --base-port <port>    instance n listens on base-port + n - 1 (0 = any)      [9001]
  --host <addr>         listen address                                         [127.0.0.1]
  --audio <src>         synthetic (cheap buzz) or espeak (real speech)         [synthetic]
  --cartesia            also start the fake Cartesia
  --cartesia-port <p>   its port                                               [9100]
  --control-port <p>    control endpoint port                                  [9000]
  --no-control          no control endpoint

Latency model (per instance)
  --first-audio-ms <ms> request → first audio at comfortable load              [${DEFAULT_LATENCY.first_audio_ms}]
  --rtf <x>             wall seconds per second of audio                       [${DEFAULT_LATENCY.rtf}]
  --chunk-ms <ms>       audio per streamed chunk                               [${DEFAULT_LATENCY.chunk_ms}]
  --comfortable <n>     streams at full speed                                  [${DEFAULT_LATENCY.comfortable}]
  --slowdown <x>        extra slowdown per stream beyond comfortable           [${DEFAULT_LATENCY.slowdown}]
  --max <n>             streams accepted at most                               [${DEFAULT_LATENCY.max}]
  --over-capacity <s>   status beyond max: 503 or 429                          [${DEFAULT_LATENCY.over_capacity_status}]
  --jitter <x>          random ± share on every wait                           [${DEFAULT_LATENCY.jitter}]

Faults (every instance at start; change them at run time over the control endpoint)
  --fault <k=v>         repeatable: error_rate=0.1, error_status=429, hang, die_mid_stream,
                        stall_ms=3000, down

Control endpoint
  GET  /control/instances                    instances, active streams, request counts, faults
  POST /control/instances/<id>/faults        JSON Partial<Faults>, e.g. {"hang":true}
  POST /control/instances/<id>/stop|start    crash / restore the listener
  POST /control/faults                       JSON Partial<Faults> for every instance

Example
  npm run sim -- --protocol openai --count 3 --base-port 9001
  VOICEGATE_CONFIG=config/examples/kokoro-fastapi.yaml npm start
  curl -XPOST localhost:9000/control/instances/sim-2/faults -d '{"down":true}'
`;

function num(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`--${name} needs a number, got ${value}`);
  return n;
}

function parseFault(spec: string): Partial<Faults> {
  const [key, raw] = spec.split('=', 2) as [string, string | undefined];
  let value: unknown = raw === undefined ? true : raw === 'true' ? true : raw === 'false' ? false : Number(raw);
  if (typeof value === 'number' && Number.isNaN(value)) value = raw;
  return parseFaultsPatch({ [key]: value });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', short: 'h' },
      protocol: { type: 'string', default: 'openai' },
      count: { type: 'string', default: '3' },
      'base-port': { type: 'string', default: '9001' },
      host: { type: 'string', default: '127.0.0.1' },
      audio: { type: 'string', default: 'synthetic' },
      cartesia: { type: 'boolean', default: false },
      'cartesia-port': { type: 'string', default: '9100' },
      'control-port': { type: 'string', default: '9000' },
      'no-control': { type: 'boolean', default: false },
      'first-audio-ms': { type: 'string' },
      rtf: { type: 'string' },
      'chunk-ms': { type: 'string' },
      comfortable: { type: 'string' },
      slowdown: { type: 'string' },
      max: { type: 'string' },
      'over-capacity': { type: 'string' },
      jitter: { type: 'string' },
      fault: { type: 'string', multiple: true, default: [] },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const protocol = values.protocol as SimProtocol;
  if (!SIM_PROTOCOLS.includes(protocol)) throw new Error(`--protocol must be one of ${SIM_PROTOCOLS.join(', ')}`);
  if (values.audio !== 'synthetic' && values.audio !== 'espeak') throw new Error('--audio must be synthetic or espeak');
  const latency: Partial<LatencyModel> = {};
  const set = (key: keyof LatencyModel, flag: string): void => {
    const v = num(values[flag as keyof typeof values] as string | undefined, flag);
    if (v !== undefined) latency[key] = v;
  };
  set('first_audio_ms', 'first-audio-ms');
  set('rtf', 'rtf');
  set('chunk_ms', 'chunk-ms');
  set('comfortable', 'comfortable');
  set('slowdown', 'slowdown');
  set('max', 'max');
  set('over_capacity_status', 'over-capacity');
  set('jitter', 'jitter');
  let faults: Partial<Faults> = {};
  for (const spec of values.fault ?? []) faults = { ...faults, ...parseFault(spec) };
  const controlPort = num(values['control-port'], 'control-port')!;

  const fleet = await startSimFleet({
    protocol,
    count: num(values.count, 'count'),
    basePort: num(values['base-port'], 'base-port'),
    host: values.host,
    audio: values.audio,
    latency,
    faults,
    controlPort: values['no-control'] ? null : controlPort,
    cartesiaPort: values.cartesia ? num(values['cartesia-port'], 'cartesia-port') : undefined,
  });

  const lines = fleet.instances.map((i) => `  ${i.id.padEnd(8)} ${i.protocol.padEnd(8)} ${i.url}${i.up ? '' : '  (down)'}`);
  if (fleet.cartesia) lines.push(`  ${'cartesia'.padEnd(8)} ${'cartesia'.padEnd(8)} ${fleet.cartesia.url}`);
  process.stdout.write(
    [
      `voicegate sim: ${fleet.instances.length} × ${protocol}, audio ${values.audio}`,
      ...lines,
      fleet.controlUrl ? `  control  ${fleet.controlUrl}/control/instances` : '  control  off',
      `  VOICEGATE_INSTANCES=${fleet.instances.map((i) => i.url).join(',')}`,
      '',
    ].join('\n'),
  );

  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    fleet.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`sim: ${(err as Error)?.message ?? err}\n`);
  process.exit(2);
});
