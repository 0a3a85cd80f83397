/**
 * The web console's first load: bytes transferred and time from navigation to the fleet view.
 *
 *   npx tsx bench/console.ts [--loads 10] [--engine auto|uws|ws]
 *
 * Runs the default config (config/default.yaml, embedded engine) on a loopback port and loads
 * `/` in headless chromium `--loads` times with the HTTP cache cleared before each (a first
 * visit). Bytes are what the browser received on the wire (Chrome's encodedDataLength:
 * headers + gzip bodies) for the page, its assets and the feed up to the first fleet view.
 * Time is the page's own clock: navigation start → the fleet table first rendered
 * (window.voicegateConsole.fleetShownAt).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { launchChromium } from '../test/helpers/chromium.ts';

const { values } = parseArgs({ options: { loads: { type: 'string', default: '10' }, engine: { type: 'string', default: 'auto' } } });
const loads = Number(values.loads);

const base = loadConfig({ PORT: '0' });
const gateway = await createGateway({ config: { ...base, server: { ...base.server, host: '127.0.0.1', engine: values.engine as 'auto' | 'uws' | 'ws' } } });
const port = await gateway.listen();
const chromium = await launchChromium();

type Exposed = { voicegateConsole: { fleetShownAt: number | null } };

/** One first visit; with `countBytes`, Chrome's network events count what came over the wire. */
async function firstLoad(countBytes: boolean): Promise<{ shownAt: number; bytes: Record<string, number> }> {
  const page = await chromium.context.newPage();
  const cdp = await chromium.context.newCDPSession(page);
  await cdp.send('Network.clearBrowserCache');
  const urls = new Map<string, string>();
  const bytes = new Map<string, number>();
  if (countBytes) {
    await cdp.send('Network.enable');
    cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, new URL(e.request.url).pathname));
    cdp.on('Network.dataReceived', (e) => bytes.set(e.requestId, (bytes.get(e.requestId) ?? 0) + e.encodedDataLength));
    cdp.on('Network.loadingFinished', (e) => bytes.set(e.requestId, Math.max(bytes.get(e.requestId) ?? 0, e.encodedDataLength)));
  } else {
    await cdp.detach();
  }
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => (globalThis as unknown as Exposed).voicegateConsole.fleetShownAt !== null);
  const shownAt = await page.evaluate(() => (globalThis as unknown as Exposed).voicegateConsole.fleetShownAt!);
  // The feed keeps streaming: count what it sent until the fleet showed (its first view).
  const counted: Record<string, number> = {};
  for (const [id, n] of bytes) counted[urls.get(id) ?? id] = n;
  await page.close();
  return { shownAt, bytes: counted };
}

const weight = await firstLoad(true);
const times: number[] = [];
for (let i = 0; i < loads; i++) times.push((await firstLoad(false)).shownAt);
await chromium.close();
await gateway.close();

const sorted = [...times].sort((a, b) => a - b);
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
console.log(`engine ${gateway.engine}, 1 counted + ${loads} timed first loads (HTTP cache cleared before each)`);
const assets = Object.entries(weight.bytes).filter(([path]) => path !== '/console/api/feed');
const total = assets.reduce((n, [, v]) => n + v, 0);
console.log(`transferred on first load: ${(total / 1024).toFixed(1)} KiB (${assets.map(([k, v]) => `${k} ${(v / 1024).toFixed(1)}`).join(', ')} KiB) + feed ${((weight.bytes['/console/api/feed'] ?? 0) / 1024).toFixed(1)} KiB by the time the fleet showed`);
console.log(`navigation → fleet view: p50 ${pct(50).toFixed(0)} ms, p90 ${pct(90).toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms`);
