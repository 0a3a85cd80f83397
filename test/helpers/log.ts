/** A pino logger whose output tests can read: raw lines, and the records they hold. */
import { Writable } from 'node:stream';
import { pino } from 'pino';

export interface LogCapture {
  readonly logger: pino.Logger;
  /** Every line written, as written (JSON text). */
  readonly lines: string[];
  /** The lines parsed, in order. */
  records(): Record<string, unknown>[];
}

export function logCapture(level = 'debug'): LogCapture {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(line);
      done();
    },
  });
  return { logger: pino({ level }, stream), lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
