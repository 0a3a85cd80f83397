/** Entry: load config → build the gateway → listen → SIGTERM/SIGINT drain gracefully (once). */
import { VoiceCheckError } from './backends/voice-check.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createGateway } from './gateway.ts';
import { createLogger } from './log.ts';
import { applyHeapGrowth } from './server/heap.ts';
import { handleStopSignals } from './server/signals.ts';

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
  applyHeapGrowth(config.server.heap_growing_percent);
  const logger = createLogger(config.log.level);
  let gateway;
  try {
    gateway = await createGateway({ config, logger });
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
    // Under `npm start` the gateway must not outlive npm (docs/deploy.md, "Signals").
    watchParent: process.env.npm_lifecycle_event !== undefined,
  });
}

main().catch((err) => {
  process.stderr.write(`voicegate: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
