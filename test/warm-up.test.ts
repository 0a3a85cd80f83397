/**
 * The warm-up calls before /ready (src/server/warm-up.ts): they run through /v1/stream's own
 * handlers in memory, reach the embedded engine, and leave no trace an operator would read as a
 * call (no session counted, no session log line); a start that cannot take calls ends them at
 * the first failure instead of waiting out every call's timeout.
 */
import { describe, expect, it } from 'vitest';
import type { Counter } from 'prom-client';
import { parseConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { Metrics } from '../src/metrics.ts';
import { warmUpStreamPath } from '../src/server/warm-up.ts';
import { SessionStartError } from '../src/session/errors.ts';
import type { SessionFactory } from '../src/session/factory.ts';
import { logCapture } from './helpers/log.ts';

/** Sum over every label set of one of the gateway's counters. */
async function total(counter: Counter<string>): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

describe('warm-up calls at start', () => {
  it('reach the engine through the native front end and count no session', async () => {
    const log = logCapture('info');
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0, engine: 'ws' },
      pools: [{ name: 'embedded', backend: 'espeak', voices: ['en-us'], instances: [{ id: 'espeak-1', max_concurrency: 1 }, { id: 'espeak-2', max_concurrency: 1 }] }],
    });
    const gateway = await createGateway({ config, logger: log.logger, healthChecks: false });
    try {
      await gateway.listen();
      expect(log.records().find((r) => r.msg === 'embedded engine warm: ready'), 'the gateway logs that it is warm').toBeDefined();
      // The warm-up's audio and sessions went to metrics of their own: the gateway's show none.
      expect(await total(gateway.metrics.characters), 'characters counted as spoken for a caller').toBe(0);
      expect(await total(gateway.metrics.sessionsTotal), 'sessions counted').toBe(0);
      expect(await total(gateway.metrics.audioSeconds), 'audio counted').toBe(0);
      expect(log.records().filter((r) => r.msg === 'session start' || r.msg === 'session end')).toEqual([]);
    } finally {
      await gateway.close();
    }
  }, 60_000);

  it('stop at the first call that cannot start', async () => {
    let created = 0;
    const sessions = {
      create() {
        created++;
        throw new SessionStartError('no_capacity', 'no instance is up');
      },
    } as unknown as SessionFactory;
    const t0 = performance.now();
    expect(await warmUpStreamPath({ sessions, metrics: new Metrics({ defaultMetrics: false }), maxMessageBytes: 65536, calls: 10, timeoutMs: 5000 })).toBe(false);
    expect(created).toBe(1);
    expect(performance.now() - t0).toBeLessThan(4000);
  });

  it('end every turn they start on a working factory', async () => {
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0, engine: 'ws' },
      pools: [{ name: 'embedded', backend: 'espeak', voices: ['en-us'], instances: [{ id: 'espeak-1', max_concurrency: 1 }] }],
    });
    const gateway = await createGateway({ config, healthChecks: false });
    try {
      await gateway.listen();
      const spoken: string[] = [];
      const sessions: SessionFactory = {
        ...gateway.sessions,
        create: (request) => {
          spoken.push(request.id);
          return gateway.sessions.create(request);
        },
      };
      expect(await warmUpStreamPath({ sessions, metrics: new Metrics({ defaultMetrics: false }), maxMessageBytes: 65536, calls: 3, timeoutMs: 10_000 })).toBe(true);
      expect(spoken).toEqual(['voicegate-warm-up-0', 'voicegate-warm-up-1', 'voicegate-warm-up-2']);
    } finally {
      await gateway.close();
    }
  }, 60_000);
});
