/** The pino root logger. Sessions take a child logger carrying session_id and instance. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    // pid: with server.workers several processes write one log; each line says which.
    base: { service: 'voicegate', pid: process.pid },
    // API keys must never reach a log line, whatever object is logged.
    redact: { paths: ['api_key', '*.api_key', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
  });
}

/** A logger that drops everything: tests and benchmarks. */
export const silentLogger: Logger = pino({ level: 'silent' });
