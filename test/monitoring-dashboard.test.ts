/**
 * grafana/dashboards/voicegate.json imports into Grafana 10+ as is: schema version, panels
 * laid out on the grid, every query on the `${datasource}` variable, no reference to a
 * variable or datasource that does not exist. The provisioning files agree with it and
 * with the Prometheus scrape interval.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT, SCRAPE_CONFIG_PATH, allPanels, loadDashboard, type DashboardJson } from './helpers/prometheus.ts';

const dashboard = loadDashboard();
const panels = allPanels(dashboard);
const dataPanels = panels.filter((panel) => panel.type !== 'row');
const DATASOURCE_REF = { type: 'prometheus', uid: '${datasource}' };
/** Grafana's built-in annotation source ("Annotations & Alerts"). */
const BUILTIN_GRAFANA = { type: 'grafana', uid: '-- Grafana --' };
/** Core panel types of Grafana 10 (no plugin to install). */
const CORE_PANEL_TYPES = new Set(['row', 'stat', 'timeseries', 'bargauge', 'gauge', 'table', 'state-timeline', 'status-history', 'heatmap', 'text', 'barchart', 'piechart']);

/** Every object under a `datasource` key anywhere in the JSON, with its path. */
function datasourceRefs(node: unknown, path = '$', out: { path: string; ref: unknown }[] = []): { path: string; ref: unknown }[] {
  if (Array.isArray(node)) node.forEach((item, i) => datasourceRefs(item, `${path}[${i}]`, out));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'datasource') out.push({ path: `${path}.${key}`, ref: value });
      datasourceRefs(value, `${path}.${key}`, out);
    }
  }
  return out;
}

/** Variable names referenced as $name, ${name}, ${name:format} or [[name]] in any string. */
function referencedVariables(text: string): string[] {
  return [...text.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

function strings(node: unknown, out: string[] = []): string[] {
  if (typeof node === 'string') out.push(node);
  else if (Array.isArray(node)) node.forEach((item) => strings(item, out));
  else if (node && typeof node === 'object') Object.values(node).forEach((value) => strings(value, out));
  return out;
}

describe('voicegate dashboard', () => {
  it('is a Grafana 10+ dashboard', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(38);
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.id ?? null).toBeNull();
    expect(dataPanels.length).toBeGreaterThanOrEqual(15);
    for (const panel of panels) expect(CORE_PANEL_TYPES, `panel ${panel.id} type`).toContain(panel.type);
  });

  it('gives every panel a unique integer id', () => {
    const ids = panels.map((panel) => panel.id);
    for (const id of ids) expect(Number.isInteger(id)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('lays every panel out on the 24-column grid without overlap', () => {
    const boxes: { id: number; x: number; y: number; w: number; h: number }[] = [];
    for (const panel of panels) {
      const { x, y, w, h } = (panel.gridPos ?? {}) as Record<string, number>;
      for (const value of [x, y, w, h]) expect(Number.isInteger(value), `panel ${panel.id} gridPos`).toBe(true);
      expect(w).toBeGreaterThan(0);
      expect(h).toBeGreaterThan(0);
      expect(x + w, `panel ${panel.id} width`).toBeLessThanOrEqual(24);
      boxes.push({ id: panel.id, x, y, w, h });
    }
    const overlaps: string[] = [];
    for (const [i, a] of boxes.entries()) {
      for (const b of boxes.slice(i + 1)) {
        if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) overlaps.push(`${a.id}/${b.id}`);
      }
    }
    expect(overlaps).toEqual([]);
  });

  it('queries through the ${datasource} variable in every panel and target', () => {
    for (const panel of dataPanels) {
      expect(panel.datasource, `panel ${panel.id}`).toEqual(DATASOURCE_REF);
      expect(panel.targets?.length, `panel ${panel.id} targets`).toBeGreaterThan(0);
      const refIds = new Set<string>();
      for (const target of panel.targets as DashboardJson[]) {
        expect(target.datasource, `panel ${panel.id} ${target.refId}`).toEqual(DATASOURCE_REF);
        expect(typeof target.expr === 'string' && target.expr.trim().length > 0).toBe(true);
        expect(refIds.has(target.refId), `panel ${panel.id} duplicate refId`).toBe(false);
        refIds.add(target.refId);
      }
    }
  });

  it('references no datasource but the variable and the built-in annotation source', () => {
    const dangling = datasourceRefs(dashboard).filter(({ ref }) => {
      const json = JSON.stringify(ref);
      return json !== JSON.stringify(DATASOURCE_REF) && json !== JSON.stringify(BUILTIN_GRAFANA);
    });
    expect(dangling).toEqual([]);
    expect(dashboard.__inputs ?? []).toEqual([]);
  });

  it('defines the datasource, pool and instance variables from label_values', () => {
    const variables = dashboard.templating.list as DashboardJson[];
    const byName = new Map(variables.map((variable) => [variable.name, variable]));
    expect(byName.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const name of ['pool', 'instance']) {
      const variable = byName.get(name);
      expect(variable, name).toMatchObject({ type: 'query', datasource: DATASOURCE_REF, includeAll: true, allValue: '.*' });
      expect(variable?.query?.query).toMatch(new RegExp(`^label_values\\(voicegate_\\w+(\\{[^}]*\\})?, ${name}\\)$`));
      expect(variable?.definition).toBe(variable?.query?.query);
    }
  });

  it('uses no variable that is not defined (or defined after the variable using it)', () => {
    const variables = (dashboard.templating.list as DashboardJson[]).map((variable) => variable.name as string);
    const undefinedRefs: string[] = [];
    for (const [index, variable] of (dashboard.templating.list as DashboardJson[]).entries()) {
      for (const name of strings(variable.query).flatMap(referencedVariables)) {
        if (!variables.slice(0, index).includes(name) && !name.startsWith('__')) undefinedRefs.push(`variable ${variable.name} uses $${name}`);
      }
    }
    const { templating: _templating, ...rest } = dashboard;
    for (const name of strings(rest).flatMap(referencedVariables)) {
      if (!variables.includes(name) && !name.startsWith('__')) undefinedRefs.push(`$${name}`);
    }
    expect(undefinedRefs).toEqual([]);
  });

  it('filters per-instance panels by the pool and instance variables', () => {
    for (const panel of dataPanels) {
      for (const target of panel.targets as DashboardJson[]) {
        for (const match of (target.expr as string).matchAll(/(voicegate_(?:instance_\w+|tts_\w+|backend_errors_total))(\{[^}]*\})?/g)) {
          expect(match[2] ?? '', `panel ${panel.id} ${match[1]}`).toContain('pool=~"$pool"');
        }
      }
    }
  });
});

describe('Grafana provisioning', () => {
  const datasources = parseYaml(readFileSync(join(ROOT, 'grafana/provisioning/datasources/prometheus.yaml'), 'utf8'));
  const providers = parseYaml(readFileSync(join(ROOT, 'grafana/provisioning/dashboards/voicegate.yaml'), 'utf8'));
  const prometheus = parseYaml(readFileSync(SCRAPE_CONFIG_PATH, 'utf8'));

  it('provides a Prometheus datasource whose minimum interval is the scrape interval', () => {
    expect(datasources.apiVersion).toBe(1);
    const source = datasources.datasources.find((d: DashboardJson) => d.type === 'prometheus');
    expect(source).toBeTruthy();
    expect(source.jsonData.timeInterval).toBe(prometheus.global.scrape_interval);
  });

  it('loads dashboards from a file provider', () => {
    expect(providers.apiVersion).toBe(1);
    expect(providers.providers).toHaveLength(1);
    expect(providers.providers[0]).toMatchObject({ type: 'file', options: { path: expect.stringMatching(/^\//) } });
  });

  // Several replicas (docs/scaling.md): every replica reports the same shared instance state
  // (health, drain, capacity), so summing it across replicas multiplies it; streams, sessions,
  // queues and demand are each replica's own, so they add up.
  const SHARED_GAUGES = ['voicegate_instance_capacity', 'voicegate_instance_capacity_configured', 'voicegate_instance_up', 'voicegate_instance_draining'];
  const PER_REPLICA_GAUGES = ['voicegate_instance_active_streams', 'voicegate_instance_sessions', 'voicegate_queue_depth', 'voicegate_pool_demand_streams', 'voicegate_sessions_active'];

  /** The aggregation operator whose argument holds position `at` of `expr` (innermost first). */
  function enclosingAggregation(expr: string, at: number): string | null {
    let depth = 0;
    for (let i = at - 1; i >= 0; i--) {
      const c = expr[i];
      if (c === ')') depth++;
      else if (c === '(') {
        if (depth > 0) {
          depth--;
          continue;
        }
        const before = expr.slice(0, i);
        const op = /\b(sum|max|min|count|avg)\s*(?:(?:by|without)\s*\([^)]*\)\s*)?$/.exec(before);
        if (op) return op[1]!;
      }
    }
    return null;
  }

  const targets = dataPanels.flatMap((panel) => ((panel.targets ?? []) as { expr?: string }[]).map((target) => ({ panel: `${panel.id} ${panel.title}`, expr: String(target.expr ?? '') })));

  it('takes max (or min) across replicas of shared instance gauges, never a sum', () => {
    let seen = 0;
    for (const { panel, expr } of targets) {
      for (const name of SHARED_GAUGES) {
        for (const m of expr.matchAll(new RegExp(`\\b${name}(?![a-z_])`, 'g'))) {
          seen++;
          expect(['max', 'min', 'count'], `${panel}: ${expr}`).toContain(enclosingAggregation(expr, m.index));
        }
      }
    }
    expect(seen).toBeGreaterThan(10);
  });

  it('sums per-replica gauges across replicas', () => {
    let seen = 0;
    for (const { panel, expr } of targets) {
      for (const name of PER_REPLICA_GAUGES) {
        for (const m of expr.matchAll(new RegExp(`\\b${name}(?![a-z_])`, 'g'))) {
          seen++;
          expect(enclosingAggregation(expr, m.index), `${panel}: ${expr}`).toBe('sum');
        }
      }
    }
    expect(seen).toBeGreaterThan(5);
  });

  it('shows whether each replica shares state through Redis, and its fallbacks', () => {
    const exprs = targets.map((t) => t.expr).join('\n');
    expect(exprs).toContain('voicegate_cluster_redis_up');
    expect(exprs).toContain('voicegate_cluster_fallback_total');
  });
});
