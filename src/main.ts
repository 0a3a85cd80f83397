/** Entry: load config → build the gateway → listen → SIGTERM/SIGINT drain gracefully. */
import { VoiceCheckError } from './backends/voice-check.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createGateway } from './gateway.ts';
import { createLogger } from './log.ts';
import { applyHeapGrowth } from './server/heap.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`voicegate: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  applyHeapGrowth(config.server.heap_growing_percent);
  const logger = createLogger(config.log.level);
  let gateway;
  try {
    gateway = await createGateway({ config, logger });
  } catch (err) {
    if (err instanceof VoiceCheckError) {
      process.stderr.write(`voicegate: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  await gateway.listen();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: closing now');
      void gateway.close().then(() => process.exit(1));
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    gateway.shutdown().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`voicegate: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
