/**
 * A fleet of fake GPU instances (and optionally a fake Cartesia) plus the control endpoint
 * operators and tests use to inject faults at run time. The programmatic API behind
 * `npm run sim`; tests and benchmarks call startSimFleet directly.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { Faults } from './faults.ts';
import type { LatencyModel } from './latency.ts';
import { espeakSource, syntheticSource, type AudioSource } from './audio.ts';
import { SimInstance, readBody, sendJson, type RequestHandler, type SimInstanceSnapshot, type SimProtocol } from './instance.ts';
import { createOpenAIHandler } from './openai-server.ts';
import { createGradioHandler } from './gradio-server.ts';
import { startFakeCartesia } from './cartesia.ts';

export interface SimInstanceSpec {
  /** Default `<idPrefix>-<n>` (1-based). */
  id?: string;
  /** Default: the fleet's protocol. */
  protocol?: SimProtocol;
  /** Default: basePort + index, or any free port when basePort is 0. */
  port?: number;
}

export interface SimFleetOptions {
  /** Instances to start (ignored when `instances` is given). Default 1. */
  count?: number;
  /** Protocol of every instance. Default `openai`. */
  protocol?: SimProtocol;
  /** Explicit instances (mixed protocols or fixed ports). */
  instances?: SimInstanceSpec[];
  /** First port; the instance at index i (0-based; its id `<idPrefix>-<i+1>`) listens on basePort + i. 0 = any free port. Default 0. */
  basePort?: number;
  /** Listen address. Default 127.0.0.1 (loopback only). */
  host?: string;
  latency?: Partial<LatencyModel>;
  /** `synthetic` (cheap buzz, default), `espeak` (real speech) or your own source. */
  audio?: 'synthetic' | 'espeak' | AudioSource;
  /** Faults every instance starts with. Default none. */
  faults?: Partial<Faults>;
  /** Control endpoint port; null = no control endpoint. Default 0 (any free port). */
  controlPort?: number | null;
  /** Instance id prefix. Default `sim`. */
  idPrefix?: string;
  /** Period of Gradio heartbeat events. Default 15 000 ms. */
  gradioHeartbeatMs?: number;
  /**
   * Also start the fake Cartesia (src/sim/cartesia.ts) on this port (0 = any free port);
   * undefined = none. Default none.
   */
  cartesiaPort?: number;
}

/** What the fleet uses of the fake Cartesia (src/sim/cartesia.ts). */
export interface FakeCartesiaHandle {
  url: string;
  setFaults(p: Partial<Faults>): void;
  activeContexts(): number;
  close(): Promise<void>;
}

export interface SimFleet {
  readonly instances: SimInstance[];
  /** `http://127.0.0.1:<port>` of the control endpoint, or null. */
  readonly controlUrl: string | null;
  readonly cartesia: FakeCartesiaHandle | null;
  instance(id: string): SimInstance | undefined;
  close(): Promise<void>;
}

export function handlerFor(protocol: SimProtocol, gradioHeartbeatMs?: number): RequestHandler {
  switch (protocol) {
    case 'openai':
    case 'chattts':
      return createOpenAIHandler(protocol);
    case 'gradio':
      return createGradioHandler({ version: 5, heartbeatMs: gradioHeartbeatMs });
    case 'gradio4':
      return createGradioHandler({ version: 4, heartbeatMs: gradioHeartbeatMs });
  }
}

const FaultsPatchSchema = z
  .object({
    error_rate: z.number().min(0).max(1),
    error_status: z.number().int().min(400).max(599),
    hang: z.boolean(),
    die_mid_stream: z.boolean(),
    stall_ms: z.number().int().min(0),
    down: z.boolean(),
  })
  .partial()
  .strict();

/** Validates a fault patch from the CLI or the control endpoint. */
export function parseFaultsPatch(value: unknown): Partial<Faults> {
  return FaultsPatchSchema.parse(value);
}

async function loadCartesia(port: number, host: string): Promise<FakeCartesiaHandle> {
  return startFakeCartesia({ port, host });
}

export async function startSimFleet(options: SimFleetOptions = {}): Promise<SimFleet> {
  const host = options.host ?? '127.0.0.1';
  const basePort = options.basePort ?? 0;
  const prefix = options.idPrefix ?? 'sim';
  const specs: SimInstanceSpec[] = options.instances ?? Array.from({ length: options.count ?? 1 }, () => ({}));
  let audio: AudioSource;
  let ownAudio = false;
  if (typeof options.audio === 'object') audio = options.audio;
  else {
    audio = options.audio === 'espeak' ? await espeakSource() : syntheticSource();
    ownAudio = true;
  }
  const instances = specs.map((spec, i) => {
    const protocol = spec.protocol ?? options.protocol ?? 'openai';
    return new SimInstance({
      id: spec.id ?? `${prefix}-${i + 1}`,
      protocol,
      audio,
      handler: handlerFor(protocol, options.gradioHeartbeatMs),
      port: spec.port ?? (basePort ? basePort + i : 0),
      host,
      latency: options.latency,
      faults: options.faults,
    });
  });
  const byId = new Map(instances.map((inst) => [inst.id, inst]));
  let control: Server | null = null;
  let cartesia: FakeCartesiaHandle | null = null;
  try {
    await Promise.all(instances.filter((inst) => !inst.faults.down).map((inst) => inst.start()));
    if (options.cartesiaPort !== undefined) cartesia = await loadCartesia(options.cartesiaPort, host);
    if (options.controlPort !== null) control = await startControl(options.controlPort ?? 0, host, byId, () => cartesia);
  } catch (err) {
    await Promise.all(instances.map((inst) => inst.stop()));
    await cartesia?.close();
    throw err;
  }
  const controlUrl = control ? `http://${host}:${(control.address() as AddressInfo).port}` : null;
  return {
    instances,
    controlUrl,
    cartesia,
    instance: (id) => byId.get(id),
    async close() {
      await Promise.all(instances.map((inst) => inst.stop()));
      if (control) {
        const server = control;
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
      await cartesia?.close();
      if (ownAudio) await audio.close();
    },
  };
}

interface CartesiaSnapshot {
  id: 'cartesia';
  protocol: 'cartesia';
  url: string;
  active_streams: number;
}

function startControl(port: number, host: string, instances: Map<string, SimInstance>, cartesia: () => FakeCartesiaHandle | null): Promise<Server> {
  const list = (): Array<SimInstanceSnapshot | CartesiaSnapshot> => {
    const out: Array<SimInstanceSnapshot | CartesiaSnapshot> = [...instances.values()].map((inst) => inst.snapshot());
    const c = cartesia();
    if (c) out.push({ id: 'cartesia', protocol: 'cartesia', url: c.url, active_streams: c.activeContexts() });
    return out;
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    if (method === 'GET' && (path === '/health' || path === '/control/health')) return sendJson(res, 200, { status: 'ok' });
    if (method === 'GET' && path === '/control/instances') return sendJson(res, 200, { instances: list() });
    const match = /^\/control\/instances\/([^/]+)(?:\/(faults|stop|start))?$/.exec(path);
    const all = /^\/control\/faults$/.test(path);
    if (!match && !all) return sendJson(res, 404, { error: `no route ${method} ${path}` });
    const id = match ? decodeURIComponent(match[1]!) : null;
    const action = match ? match[2] : 'faults';
    if (id === 'cartesia') {
      const c = cartesia();
      if (!c) return sendJson(res, 404, { error: 'no fake Cartesia in this fleet' });
      if (method === 'GET' && !action) return sendJson(res, 200, list().find((s) => s.id === 'cartesia'));
      if (method !== 'POST' || action !== 'faults') return sendJson(res, 405, { error: 'the fake Cartesia takes POST …/faults only' });
    }
    const targets = id === null ? [...instances.values()] : id === 'cartesia' ? [] : [instances.get(id)].filter((x): x is SimInstance => !!x);
    if (id !== null && id !== 'cartesia' && targets.length === 0) return sendJson(res, 404, { error: `no instance ${id}` });
    if (method === 'GET' && !action) return sendJson(res, 200, targets[0]!.snapshot());
    if (method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
    void (async () => {
      if (action === 'stop') await Promise.all(targets.map((t) => t.stop()));
      else if (action === 'start') await Promise.all(targets.map((t) => t.start()));
      else {
        let patch: Partial<Faults>;
        try {
          patch = parseFaultsPatch(JSON.parse((await readBody(req)) || '{}'));
        } catch (err) {
          return sendJson(res, 400, { error: `bad faults: ${(err as Error).message}` });
        }
        if (id === 'cartesia') cartesia()!.setFaults(patch);
        await Promise.all(targets.map((t) => t.setFaults(patch)));
      }
      if (id === 'cartesia') return sendJson(res, 200, list().find((s) => s.id === 'cartesia'));
      sendJson(res, 200, id === null ? { instances: list() } : targets[0]!.snapshot());
    })().catch((err: unknown) => sendJson(res, 500, { error: String((err as Error)?.message ?? err) }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
