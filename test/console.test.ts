/**
 * The web console in a real browser (Debian's chromium via playwright-core, headless, loopback):
 * the default gateway's page, a simulated fleet, and a gateway with API keys.
 *
 * Screenshots: VOICEGATE_CONSOLE_SCREENSHOTS=1 writes them to docs/ (the ones docs/console.md
 * shows); otherwise to a temporary folder, so a plain test run leaves the tree clean.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, type Config } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimFleet, type SimFleet } from '../src/sim/fleet.ts';
import { launchChromium, type Chromium } from './helpers/chromium.ts';
import { StreamClient } from './helpers/stream-client.ts';

const SHOTS = process.env.VOICEGATE_CONSOLE_SCREENSHOTS ? join(import.meta.dirname, '..', 'docs') : mkdtempSync(join(tmpdir(), 'voicegate-console-shots-'));
const LONG_TEXT =
  'Good morning, and thank you for calling. This is the voicegate console speaking through the embedded engine. ' +
  'Every sentence is cut as it arrives, sent to the instance this call is pinned to, and streamed back while it is synthesized. ' +
  'If you can still hear this sentence, the barge-in button has not been pressed yet.';

interface Exposed {
  audio: { nonSilentSamples: number; scheduledSamples: number; metered: boolean; droppedSeconds: number };
  feedUpdates: number;
  fleetShownAt: number | null;
  cancelledConfirmed: number;
}

const exposed = (page: Page) => page.evaluate(() => (globalThis as unknown as { voicegateConsole: Exposed }).voicegateConsole);

/** Console errors and uncaught exceptions of a page. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

let chromium: Chromium;
beforeAll(async () => {
  chromium = await launchChromium();
}, 60_000);
afterAll(async () => {
  await chromium?.close();
  if (!process.env.VOICEGATE_CONSOLE_SCREENSHOTS) rmSync(SHOTS, { recursive: true, force: true });
});

async function startGateway(config: Config, healthChecks = true): Promise<{ gateway: Gateway; url: string }> {
  const gateway = await createGateway({ config, healthChecks });
  const port = await gateway.listen();
  return { gateway, url: `http://127.0.0.1:${port}` };
}

describe('console on the default config (embedded engine)', () => {
  let gateway: Gateway;
  let url: string;
  beforeAll(async () => {
    const base = loadConfig({ PORT: '0' });
    ({ gateway, url } = await startGateway({ ...base, server: { ...base.server, host: '127.0.0.1' } }));
    // On a loaded machine espeak-ng's WASM can take longer to load than a health check's timeout:
    // the instances then flap down and up once. Start from a settled, warm pool.
    const instances = gateway.fleet.routers[0].instances;
    await Promise.all(instances.map((i) => i.backend.check(AbortSignal.timeout(20_000))));
    for (const deadline = Date.now() + 20_000; !gateway.fleet.snapshot().every((s) => s.health === 'up') && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
  }, 45_000);
  afterAll(() => gateway?.close());

  it('loads without console errors, shows the pool and its instances, speaks, and barges in', async () => {
    const page = await chromium.context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${url}/`);
    const pool = page.locator('[data-pool="embedded"]');
    await expect.poll(() => pool.count()).toBe(1);
    for (const id of ['espeak-1', 'espeak-2']) await expect.poll(() => pool.locator(`[data-instance="${id}"][data-state="up"]`).count()).toBe(1);

    await page.getByLabel('Text', { exact: true }).fill(LONG_TEXT);
    await page.getByRole('button', { name: 'Speak', exact: true }).click();
    // Sound reaches the end of the audio graph.
    await expect.poll(async () => (await exposed(page)).audio.nonSilentSamples, { timeout: 15_000 }).toBeGreaterThan(4000);
    expect((await exposed(page)).audio.metered).toBe(true);
    // Each segment on the timeline with its text and the instance that spoke it.
    await expect.poll(() => page.locator('[data-segment]').count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    const rows = await page.locator('[data-segment]').evaluateAll((trs) => trs.map((tr) => ({ text: tr.children[1].textContent, provider: tr.querySelector('.provider')!.textContent })));
    for (const row of rows) {
      expect(row.text).not.toBe('');
      expect(['espeak-1', 'espeak-2']).toContain(row.provider);
    }
    // The call shows in the calls list while it lasts.
    await expect.poll(() => page.locator('table.calls [data-session^="console-"]').count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'console-playground.png'), fullPage: true });

    await page.getByRole('button', { name: 'Barge in' }).click();
    await expect.poll(() => page.locator('[data-event="cancelled"]').count()).toBe(1);
    const after = await exposed(page);
    expect(after.cancelledConfirmed).toBe(1);
    // Audio was still queued when the barge-in came, and nothing of it plays afterwards.
    expect(after.audio.droppedSeconds).toBeGreaterThan(0.5);
    await page.waitForTimeout(300);
    const settled = (await exposed(page)).audio.nonSilentSamples;
    await page.waitForTimeout(1000);
    expect((await exposed(page)).audio.nonSilentSamples).toBe(settled);

    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('console against a simulated fleet', () => {
  let fleet: SimFleet;
  let gateway: Gateway;
  let url: string;
  beforeAll(async () => {
    fleet = await startSimFleet({ count: 3, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 30, rtf: 0.5, chunk_ms: 100 } });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0 },
      pools: [
        {
          name: 'kokoro',
          backend: 'openai',
          model: 'kokoro',
          voices: ['af_heart', 'am_adam'],
          instances: fleet.instances.map((i) => ({ id: i.id, url: i.url, max_concurrency: 4 })),
          health: { interval_ms: 200, timeout_ms: 300, fall: 2, rise: 2 },
        },
      ],
    });
    ({ gateway, url } = await startGateway(config));
  });
  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
  });

  it('lists a call in progress, shows a killed instance down within 3 s, and drains one from its button', async () => {
    const page = await chromium.context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${url}/`);
    await expect.poll(() => page.locator('[data-instance][data-state="up"]').count()).toBe(3);

    const call = await StreamClient.started(`${url.replace('http', 'ws')}/v1/stream?session_id=call-in-progress`);
    call.send({ type: 'text', text: 'A call that is still talking while the operator looks at the console. ' });
    const row = page.locator('table.calls [data-session="call-in-progress"]');
    await expect.poll(() => row.count()).toBe(1);
    const ready = call.events.find((e) => e.type === 'ready') as unknown as { pool: string; instance: string };
    expect(await row.locator('td').allTextContents()).toEqual(expect.arrayContaining(['call-in-progress', 'kokoro', ready.instance, 'native']));

    const victim = fleet.instances.find((i) => i.id !== ready.instance)!;
    const killedAt = performance.now();
    await victim.stop();
    await page.locator(`[data-instance="${victim.id}"][data-state="down"]`).waitFor({ timeout: 3000 });
    expect(performance.now() - killedAt).toBeLessThan(3000);

    const target = fleet.instances.find((i) => i.id !== victim.id && i.id !== ready.instance)!;
    await page.getByRole('button', { name: `Drain ${target.id}` }).click();
    await page.locator(`[data-instance="${target.id}"][data-state="draining"]`).waitFor({ timeout: 3000 });
    const admin = (await (await fetch(`${url}/admin/instances`)).json()) as { instances: { id: string; draining: boolean }[] };
    expect(admin.instances.find((i) => i.id === target.id)?.draining).toBe(true);
    expect(admin.instances.filter((i) => i.draining)).toHaveLength(1);
    await expect.poll(() => page.getByRole('button', { name: `Undrain ${target.id}` }).count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'console-fleet.png'), fullPage: true });

    call.send({ type: 'flush' });
    await call.close();
    await expect.poll(() => row.count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('console timeline when an instance fails mid-call', () => {
  let fleet: SimFleet;
  let gateway: Gateway;
  let url: string;
  beforeAll(async () => {
    fleet = await startSimFleet({ count: 2, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.2, chunk_ms: 100 } });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0 },
      pools: [{ name: 'kokoro', backend: 'openai', model: 'kokoro', voices: ['af_heart'], instances: fleet.instances.map((i) => ({ id: i.id, url: i.url })) }],
    });
    ({ gateway, url } = await startGateway(config, false));
  });
  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
  });

  it('shows the failover on the segment it moved, with the provider that spoke it', async () => {
    const page = await chromium.context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${url}/`);
    await page.getByLabel('Text', { exact: true }).fill('First turn.');
    await page.getByRole('button', { name: 'Speak', exact: true }).click();
    await page.locator('[data-segment="0"]').waitFor();
    const pin = (await page.locator('[data-segment="0"] .provider').textContent())!;
    const other = fleet.instances.find((i) => i.id !== pin)!;
    // The pinned instance now answers every request with a 500: the next segment moves.
    await fleet.instances.find((i) => i.id === pin)!.setFaults({ error_rate: 1, error_status: 500 });
    await page.getByLabel('Text', { exact: true }).fill('Second turn, spoken elsewhere.');
    await page.getByRole('button', { name: 'Speak', exact: true }).click();
    const moved = page.locator('[data-segment="1"]');
    await moved.locator('.badge', { hasText: 'failover' }).waitFor();
    expect(await moved.locator('.badge').first().textContent()).toContain(`failover ${pin} → ${other.id}`);
    await expect.poll(() => moved.locator('.provider').textContent()).toBe(other.id);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('console with API keys configured', () => {
  const KEY = 'sk-console-test';
  let fleet: SimFleet;
  let gateway: Gateway;
  let url: string;
  beforeAll(async () => {
    fleet = await startSimFleet({ count: 1, protocol: 'openai', controlPort: null, latency: { first_audio_ms: 20, rtf: 0.3 } });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0 },
      auth: { api_keys: [KEY] },
      pools: [{ name: 'kokoro', backend: 'openai', model: 'kokoro', voices: ['af_heart'], instances: fleet.instances.map((i) => ({ id: i.id, url: i.url })) }],
    });
    ({ gateway, url } = await startGateway(config, false));
  });
  afterAll(async () => {
    await gateway?.close();
    await fleet?.close();
  });

  it('asks for the key, shows nothing without it, and never puts it in a URL', async () => {
    const page = await chromium.context.newPage();
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    page.on('websocket', (ws) => urls.push(ws.url()));
    await page.goto(`${url}/`);
    const keyField = page.getByLabel('API key');
    await keyField.waitFor();
    await page.screenshot({ path: join(SHOTS, 'console-key.png') });
    const nothingShown = async () => {
      expect(await page.locator('[data-pool], [data-instance], #playground, #fleet, table.calls').count()).toBe(0);
      expect((await exposed(page)).feedUpdates).toBe(0);
    };
    await nothingShown();

    await keyField.fill('not-the-key');
    await page.getByRole('button', { name: 'Open console' }).click();
    await page.getByRole('alert').filter({ hasText: 'refused' }).waitFor();
    await nothingShown();

    await keyField.fill(KEY);
    await page.getByRole('button', { name: 'Open console' }).click();
    await page.locator(`[data-instance="${fleet.instances[0].id}"]`).waitFor();
    // The playground's WebSocket gets in with a ticket, not the key.
    await page.getByLabel('Text', { exact: true }).fill('Hello with a key.');
    await page.getByRole('button', { name: 'Speak', exact: true }).click();
    await page.locator('[data-segment="0"]').waitFor({ timeout: 10_000 });
    expect(urls.some((u) => u.includes('/v1/stream?') && u.includes('ticket='))).toBe(true);
    for (const u of urls) expect(u).not.toContain(KEY);
    await page.close();
  });
});
