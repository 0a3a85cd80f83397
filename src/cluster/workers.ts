/**
 * `server.workers` > 1: the primary process of `npm start` (docs/scaling.md).
 *
 * The primary serves no calls. It forks the workers (node:cluster), respawns one that crashes,
 * answers their IPC requests (/metrics for the whole set; without Redis, the shared stream
 * slots and remembered pins), and turns one stop request into one drain of every worker.
 * Workers run the ordinary gateway (src/main.ts → createWorkerGateway) on the same port: the
 * `ws` engine's listen goes through node:cluster's shared handle; uWebSockets.js binds its own
 * socket with SO_REUSEPORT (uSockets' default on Linux), and the kernel spreads connections
 * over the workers.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { createGateway, type Gateway, type GatewayOptions } from '../gateway.ts';
import { Metrics, type MetricJson } from '../metrics.ts';
import { handleStopSignals } from '../server/signals.ts';
import { IpcChannel } from './ipc.ts';
import { IpcSlots, SlotHost, type SlotHostMethods, type SlotWorkerMethods } from './ipc-slots.ts';
import { IpcPinStore, PinHost, type PinHostMethods, type PinWorkerMethods } from './ipc-pins.ts';

/** What a worker asks its primary. */
export type PrimaryMethods = SlotHostMethods & PinHostMethods & {
  /** The whole process set's metrics in the Prometheus text format. */
  metrics: [null, string];
};
/** What the primary asks a worker. */
export type WorkerMethods = SlotWorkerMethods & PinWorkerMethods & {
  metricsJson: [null, MetricJson[]];
};

/** `server.workers` as configured → a process count. */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

export interface PrimaryOptions {
  readonly workers: number;
  readonly logger: Logger;
  /** The drain deadline each worker is given (gateway.shutdown's default); the primary waits this plus a margin, then kills. */
  readonly drainMs: number;
  /** A worker that dies more often than this within `crashWindowMs` is not respawned again; the primary stops. Default 5. */
  readonly maxCrashes?: number;
  /** Default 60 000. */
  readonly crashWindowMs?: number;
  /**
   * The `cluster` section: without `redis_url` the workers share stream slots and remembered
   * pins (for `pin_ttl_s`) through this process; with it they share them in Redis instead.
   */
  readonly cluster: Pick<Config['cluster'], 'redis_url' | 'pin_ttl_s'>;
  /** Per worker answering metricsJson. Default 2000. */
  readonly metricsTimeoutMs?: number;
}

/** Runs the primary until every worker has gone; resolves with the exit code for the process. */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const { logger } = options;
  const maxCrashes = options.maxCrashes ?? 5;
  const crashWindowMs = options.crashWindowMs ?? 60_000;
  const channels = new Map<Worker, IpcChannel<PrimaryMethods, WorkerMethods>>();
  const crashes: number[] = [];
  let stopping = false;
  let exitCode = 0;
  const shareHere = !options.cluster.redis_url;
  const slotHost = shareHere ? new SlotHost() : null;
  const pinHost = shareHere ? new PinHost({ ttlMs: options.cluster.pin_ttl_s * 1000 }) : null;

  const renderAll = async (): Promise<string> => {
    const answers = await Promise.allSettled(
      [...channels.values()].map((channel) => channel.request('metricsJson', null, options.metricsTimeoutMs ?? 2000)),
    );
    const parts = answers.flatMap((answer) => (answer.status === 'fulfilled' ? [answer.value] : []));
    // A worker that does not answer (busy, dying) is left out of this scrape rather than failing it.
    return AggregatorRegistry.aggregate(parts as never).metrics();
  };

  const fork = (): void => {
    const worker = cluster.fork();
    const channel = new IpcChannel<PrimaryMethods, WorkerMethods>(worker);
    channel.handle('metrics', renderAll);
    slotHost?.serve(channel);
    pinHost?.serve(channel);
    channels.set(worker, channel);
  };

  return new Promise<number>((resolve) => {
    cluster.on('online', (worker) => logger.info({ worker: worker.process.pid }, 'worker started'));
    cluster.on('exit', (worker, code, signal) => {
      const channel = channels.get(worker);
      if (channel) {
        channel.close('worker exited');
        slotHost?.drop(channel); // its streams ended with it
        pinHost?.drop(channel); // its sessions' pins stay
      }
      channels.delete(worker);
      const clean = code === 0 && signal === null;
      if (stopping) {
        logger.info({ worker: worker.process.pid, code, signal }, 'worker stopped');
      } else {
        const now = Date.now();
        crashes.push(now);
        while (crashes.length > 0 && crashes[0]! < now - crashWindowMs) crashes.shift();
        if (crashes.length > maxCrashes) {
          logger.error({ worker: worker.process.pid, code, signal, crashes: crashes.length }, 'workers keep dying: stopping');
          exitCode = 1;
          stop('workers keep dying');
        } else {
          logger.error({ worker: worker.process.pid, code, signal, clean }, 'worker died: starting another');
          fork();
        }
      }
      if (channels.size === 0 && stopping) resolve(exitCode);
    });

    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const stop = (reason: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason, workers: [...channels.keys()].map((w) => w.process.pid) }, 'draining every worker');
      // Workers started by `npm start` in one process group often got the same signal already;
      // theirs and this one are one request (signals.ts ignores the duplicate).
      for (const worker of channels.keys()) worker.process.kill('SIGTERM');
      killTimer = setTimeout(() => {
        for (const worker of channels.keys()) {
          logger.warn({ worker: worker.process.pid }, 'worker did not drain in time: killing');
          worker.process.kill('SIGKILL');
        }
      }, options.drainMs + 5000);
      killTimer.unref();
      if (channels.size === 0) resolve(exitCode);
    };

    handleStopSignals({
      drain: stop,
      force(reason) {
        logger.warn({ signal: reason }, 'second signal: workers close now');
        // A second signal to a draining worker closes it at once (signals.ts).
        for (const worker of channels.keys()) worker.process.kill('SIGINT');
      },
      onDuplicate: (signal) => logger.debug({ signal }, 'same stop request delivered twice (process group and npm): one drain'),
      watchParent: process.env.npm_lifecycle_event !== undefined,
    });

    for (let i = 0; i < options.workers; i++) fork();
  });
}

/**
 * In a worker: the gateway, joined to its primary. Its /metrics answers for the whole process
 * set; without cluster.redis_url its stream slots and remembered pins are the primary's
 * (ipc-slots.ts, ipc-pins.ts), with it the gateway shares them through Redis as a replica does.
 * src/main.ts and bench/calls run workers through this one function.
 */
export async function createWorkerGateway(options: Omit<GatewayOptions, 'metrics' | 'slots' | 'pins'>): Promise<Gateway> {
  const { config } = options;
  const toPrimary = new IpcChannel<WorkerMethods, PrimaryMethods>(process as never);
  const metrics = new Metrics({ renderAll: () => toPrimary.request('metrics', null) });
  toPrimary.handle('metricsJson', () => metrics.clusterJson());
  if (config.cluster.redis_url) return createGateway({ ...options, metrics });
  const pins = new IpcPinStore(toPrimary, { ttlMs: config.cluster.pin_ttl_s * 1000 });
  await pins.start();
  return createGateway({ ...options, metrics, slots: new IpcSlots(toPrimary), pins });
}
