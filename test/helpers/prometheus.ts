/**
 * Test helpers for the monitoring artefacts (grafana/, deploy/prometheus/):
 * - reading the dashboard's queries and the alert rules' expressions,
 * - a small PromQL reader that finds the metric names and labels a query uses,
 * - running a real Prometheus (the Debian `prometheus` binary) against loopback targets
 *   and querying it over its HTTP API.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const DASHBOARD_PATH = join(ROOT, 'grafana/dashboards/voicegate.json');
export const PROMETHEUS_DIR = join(ROOT, 'deploy/prometheus');
export const ALERTS_PATH = join(PROMETHEUS_DIR, 'alerts.yml');
export const ALERT_TESTS_PATH = join(PROMETHEUS_DIR, 'alerts.test.yml');
export const SCRAPE_CONFIG_PATH = join(PROMETHEUS_DIR, 'prometheus.yml');

/** The apt line that provides `prometheus` and `promtool` (Debian 12: 2.42). */
export const PROMETHEUS_INSTALL_HINT = 'apt-get update && apt-get install -y --no-install-recommends prometheus';

// ---------------------------------------------------------------------------------------
// Dashboard and rules

/* eslint-disable @typescript-eslint/no-explicit-any -- Grafana JSON is untyped by nature. */
export type DashboardJson = Record<string, any>;

export interface DashboardQuery {
  panelId: number;
  panelTitle: string;
  refId: string;
  expr: string;
  /** Grafana runs it as an instant query (tables, "in range" stats). */
  instant: boolean;
}

export function loadDashboard(path = DASHBOARD_PATH): DashboardJson {
  return JSON.parse(readFileSync(path, 'utf8')) as DashboardJson;
}

/** Every panel, rows' nested panels included. */
export function allPanels(dashboard: DashboardJson): DashboardJson[] {
  const out: DashboardJson[] = [];
  for (const panel of dashboard.panels ?? []) {
    out.push(panel);
    for (const nested of panel.panels ?? []) out.push(nested);
  }
  return out;
}

export function dashboardQueries(dashboard: DashboardJson): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const panel of allPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      if (typeof target.expr !== 'string') continue;
      out.push({ panelId: panel.id, panelTitle: panel.title, refId: target.refId, expr: target.expr, instant: target.instant === true && target.range !== true });
    }
  }
  return out;
}

/** The PromQL of query-type template variables (label_values(<selector>, label) → selector). */
export function templateVariableSelectors(dashboard: DashboardJson): string[] {
  const out: string[] = [];
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    const match = /^\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*$/.exec(query ?? '');
    if (match) out.push(match[1]);
    else if (query) out.push(query);
  }
  return out;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function loadAlertRules(path = ALERTS_PATH): AlertRule[] {
  const doc = parseYaml(readFileSync(path, 'utf8')) as { groups: { rules: AlertRule[] }[] };
  return doc.groups.flatMap((group) => group.rules).filter((rule) => typeof rule.alert === 'string');
}

/**
 * Replaces Grafana variables the way Grafana would with "All" selected, so that a panel's
 * query can run against Prometheus directly.
 */
export function substituteVariables(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c) as string;
    const value = values[name];
    if (value === undefined) throw new Error(`no value for Grafana variable ${whole} in: ${expr}`);
    return value;
  });
}

// ---------------------------------------------------------------------------------------
// PromQL reading (enough for our own queries: selectors, functions, grouping clauses)

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2']);
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;

function stripStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
}

/** Metric names a PromQL expression reads (series selectors), deduplicated. */
export function promqlMetricNames(expr: string): string[] {
  const bare = stripStrings(expr)
    .replace(/\$\{?\w+\}?/g, ' 1 ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(GROUPING, ' ');
  const names = new Set<string>();
  const identifier = /(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g;
  for (const match of bare.matchAll(identifier)) {
    const [, name, call] = match;
    if (call || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

export interface Selector {
  metric: string;
  labels: string[];
}

/** Series selectors with label matchers (`name{a="x", b=~"y"}`). */
export function promqlSelectors(expr: string): Selector[] {
  const out: Selector[] = [];
  for (const match of expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
    const labels = [...match[2].matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]);
    out.push({ metric: match[1], labels });
  }
  return out;
}

/** Labels named in by/without/on/ignoring/group_* clauses. */
export function promqlGroupingLabels(expr: string): string[] {
  const labels = new Set<string>();
  for (const match of stripStrings(expr).matchAll(GROUPING)) {
    for (const label of match[2].split(',')) if (label.trim()) labels.add(label.trim());
  }
  return [...labels];
}

export interface Exposition {
  /** Family name (as in `# TYPE`) → type. */
  types: Map<string, string>;
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(match[1], match[2]);
  return { types };
}

/** The exposed family a series name belongs to (histogram/summary suffixes mapped), or null. */
export function familyOf(series: string, exposition: Exposition): string | null {
  if (exposition.types.has(series)) return series;
  const suffix = /^(.*)_(bucket|sum|count)$/.exec(series);
  if (!suffix) return null;
  const type = exposition.types.get(suffix[1]);
  if (type === 'histogram') return suffix[1];
  if (type === 'summary' && suffix[2] !== 'bucket') return suffix[1];
  return null;
}

// ---------------------------------------------------------------------------------------
// Binaries

/** Absolute path of an executable on PATH, or null. */
export function findExecutable(name: string): string | null {
  const result = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = result.stdout.trim();
  return result.status === 0 && path ? path : null;
}

export interface RunResult {
  code: number | null;
  output: string;
}

export function runTool(command: string, args: string[], cwd = ROOT, timeoutMs = 30_000): RunResult {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs });
  return { code: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}` };
}

// ---------------------------------------------------------------------------------------
// A real Prometheus

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface PrometheusOptions {
  /** Scrape targets, `127.0.0.1:port`. */
  targets: string[];
  /** Scrape and rule evaluation interval in seconds. Default 1. */
  intervalSeconds?: number;
  /** Load deploy/prometheus/alerts.yml. Default true. */
  loadAlertRules?: boolean;
  /** Time to wait for /-/ready. Default 20 000 ms. */
  startTimeoutMs?: number;
  /** Binary. Default `prometheus` on PATH. */
  binary?: string;
}

export type PromSample = { metric: Record<string, string>; value: [number, string] };

export interface RuleHealth {
  name: string;
  health: string;
  lastError?: string;
}

export interface RunningPrometheus {
  url: string;
  pid: number;
  /** Instant query at now; throws on a PromQL error. */
  query(expr: string): Promise<PromSample[]>;
  /** Resolves once every target has been scraped successfully `scrapes` more times. */
  waitForScrapes(scrapes?: number, timeoutMs?: number): Promise<void>;
  rules(): Promise<RuleHealth[]>;
  /** Prometheus's own log (stderr), for failure messages. */
  log(): string;
  close(): Promise<void>;
}

/**
 * Starts the Prometheus binary on a free loopback port with a temporary storage dir,
 * scraping `targets` with the scrape config of deploy/prometheus/prometheus.yml (its job,
 * honor_labels and relabelling), at a test-friendly interval. Stopped by pid in close().
 */
export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const binary = options.binary ?? findExecutable('prometheus');
  if (!binary) throw new Error(`prometheus is not installed: ${PROMETHEUS_INSTALL_HINT}`);
  const interval = `${options.intervalSeconds ?? 1}s`;
  const dir = mkdtempSync(join(tmpdir(), 'voicegate-prometheus-'));
  const base = parseYaml(readFileSync(SCRAPE_CONFIG_PATH, 'utf8')) as { scrape_configs: Record<string, unknown>[] };
  const job = base.scrape_configs.find((config) => config.job_name === 'voicegate');
  if (!job) throw new Error('deploy/prometheus/prometheus.yml has no voicegate job');
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.loadAlertRules === false ? [] : [ALERTS_PATH],
    scrape_configs: [{ ...job, static_configs: [{ targets: options.targets }] }],
  };
  const configPath = join(dir, 'prometheus.yml');
  writeFileSync(configPath, stringifyYaml(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(binary, [
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-20_000); });
  let exited = false;
  const exit = new Promise<void>((done) => child.once('exit', () => { exited = true; done(); }));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${binary}`);

  // A worker that exits without afterAll (timeout, crash) must not leave Prometheus behind.
  const killOnExit = (): void => {
    if (!exited) process.kill(pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (!exited) {
      process.kill(pid, 'SIGTERM');
      const killer = setTimeout(() => { if (!exited) process.kill(pid, 'SIGKILL'); }, 5000);
      await exit;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };

  try {
    const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
    for (;;) {
      if (exited) throw new Error(`prometheus exited at start:\n${stderr}`);
      const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`prometheus not ready in time:\n${stderr}`);
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  type Target = { health: string; lastScrape: string; lastError: string; scrapeUrl: string };
  const scrapeCount = new Map<string, { last: string; count: number }>();

  return {
    url,
    pid,
    async query(expr) {
      const data = await api<{ resultType: string; result: PromSample[] | [number, string] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
      return data.result as PromSample[];
    },
    async waitForScrapes(scrapes = 1, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      const start = new Map<string, number>();
      for (;;) {
        const { activeTargets } = await api<{ activeTargets: Target[] }>('/api/v1/targets');
        let done = activeTargets.length === options.targets.length;
        for (const target of activeTargets) {
          const seen = scrapeCount.get(target.scrapeUrl) ?? { last: '', count: 0 };
          if (target.health === 'up' && target.lastScrape !== seen.last) {
            seen.last = target.lastScrape;
            seen.count += 1;
          }
          scrapeCount.set(target.scrapeUrl, seen);
          if (!start.has(target.scrapeUrl)) start.set(target.scrapeUrl, seen.count);
          if (seen.count - (start.get(target.scrapeUrl) ?? 0) < scrapes) done = false;
        }
        if (done) return;
        if (Date.now() > deadline) {
          throw new Error(`targets not scraped in time: ${JSON.stringify(activeTargets.map((t) => [t.scrapeUrl, t.health, t.lastError]))}`);
        }
        await sleep(100);
      }
    },
    async rules() {
      const data = await api<{ groups: { rules: RuleHealth[] }[] }>('/api/v1/rules');
      return data.groups.flatMap((group) => group.rules);
    },
    log: () => stderr,
    close: stop,
  };
}

/** Variable values matching Grafana with "All" selected and a 1 s scrape interval. */
export function testVariableValues(rangeWindow: string): Record<string, string> {
  return { pool: '.*', instance: '.*', streams_per_call: '1', __rate_interval: rangeWindow, __range: rangeWindow, __interval: '1s' };
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
