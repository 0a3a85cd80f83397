/**
 * Entry: load config → build the gateway → listen → SIGTERM/SIGINT drain gracefully (once).
 * With `server.workers` > 1 this process is the primary (src/cluster/workers.ts) and each
 * worker it forks runs this same file as one gateway.
 */
import cluster from 'node:cluster';
import { VoiceCheckError } from './backends/voice-check.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createGateway } from './gateway.ts';
import { createLogger } from './log.ts';
import { applyHeapGrowth } from './server/heap.ts';
import { handleStopSignals } from './server/signals.ts';
import { createWorkerGateway, runPrimary, workerCount } from './cluster/workers.ts';

/**
 * A configuration the gateway cannot run with: one line on stderr, exit 2. systemd's
 * RestartPreventExitStatus=2 (deploy/) then stops instead of restart-looping on it.
 */
function exitMisconfigured(err: Error): never {
  process.stderr.write(`voicegate: ${err.message.replace(/\s*\n\s*/g, '; ')}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) exitMisconfigured(err);
    throw err;
  }
  const logger = createLogger(config.log.level);
  const workers = workerCount(config.server.workers);
  if (workers > 1 && cluster.isPrimary) {
    if (config.server.port === 0) {
      process.stderr.write('voicegate: server.workers > 1 needs a fixed server.port (with port 0 each worker would listen on a port of its own)\n');
      process.exit(2);
    }
    logger.info({ workers, port: config.server.port }, 'starting workers');
    process.exit(await runPrimary({ workers, logger, drainMs: config.server.drain_timeout_ms, cluster: config.cluster }));
  }
  applyHeapGrowth(config.server.heap_growing_percent);
  let gateway;
  try {
    // A worker shares metrics, and without Redis slots and pins, through its primary.
    gateway = cluster.isWorker ? await createWorkerGateway({ config, logger }) : await createGateway({ config, logger });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof VoiceCheckError) exitMisconfigured(err);
    throw err;
  }
  await gateway.listen();

  handleStopSignals({
    drain(reason) {
      logger.info({ signal: reason }, 'shutting down');
      gateway.shutdown().then(
        () => process.exit(0),
        (err) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    },
    force(reason) {
      logger.warn({ signal: reason }, 'second signal: closing now');
      void gateway.close().then(() => process.exit(1));
    },
    onDuplicate: (signal) => logger.debug({ signal }, 'same stop request delivered twice (process group and npm): one drain'),
    // Under `npm start` the gateway must not outlive npm (docs/deploy.md, "Signals"); a worker
    // must not outlive its primary.
    watchParent: cluster.isWorker || process.env.npm_lifecycle_event !== undefined,
  });
}

main().catch((err) => {
  process.stderr.write(`voicegate: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
