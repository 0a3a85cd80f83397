/**
 * The dashboard and the alert rules read only metrics and labels that voicegate exports
 * (src/metrics.ts), and every voicegate metric is on the dashboard. A renamed metric or
 * label breaks this test rather than silently emptying a panel or muting an alert.
 */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../src/metrics.ts';
import {
  dashboardQueries,
  familyOf,
  loadAlertRules,
  loadDashboard,
  parseExposition,
  promqlGroupingLabels,
  promqlMetricNames,
  promqlSelectors,
  templateVariableSelectors,
  type Exposition,
} from './helpers/prometheus.ts';

/** Series Prometheus makes itself for each target. */
const SYNTHETIC_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_series_added', 'scrape_samples_post_metric_relabeling']);
/** Labels every series gets from deploy/prometheus/prometheus.yml (job, gateway) or, for gateway-level metrics, Prometheus's target `instance`. */
const TARGET_LABELS = new Set(['job', 'gateway', 'instance']);

async function exported(): Promise<{ exposition: Exposition; labels: Map<string, Set<string>> }> {
  const metrics = new Metrics();
  const exposition = parseExposition(await metrics.render());
  const labels = new Map<string, Set<string>>();
  for (const metric of metrics.registry.getMetricsAsArray()) {
    const names = (metric as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
    labels.set(metric.name, new Set(names));
  }
  return { exposition, labels };
}

interface Use {
  where: string;
  expr: string;
}

function uses(): Use[] {
  const dashboard = loadDashboard();
  return [
    ...dashboardQueries(dashboard).map((q) => ({ where: `panel ${q.panelId} "${q.panelTitle}" ${q.refId}`, expr: q.expr })),
    ...templateVariableSelectors(dashboard).map((expr) => ({ where: 'template variable', expr })),
    ...loadAlertRules().map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr })),
  ];
}

describe('PromQL reader used by these checks', () => {
  it('finds series selectors, not functions, keywords, labels or durations', () => {
    const expr = 'histogram_quantile(0.95, sum by (pool, le) (rate(a_bucket{pool=~"$pool"}[$__rate_interval]))) > 0.5 and on (pool) b_total offset 5m unless c or vector(0)';
    expect(promqlMetricNames(expr).sort()).toEqual(['a_bucket', 'b_total', 'c']);
    expect(promqlSelectors(expr)).toEqual([{ metric: 'a_bucket', labels: ['pool'] }]);
    expect(promqlGroupingLabels(expr).sort()).toEqual(['le', 'pool']);
  });

  it('maps histogram series to their family and refuses unknown names', () => {
    const exposition = parseExposition('# TYPE h histogram\n# TYPE g gauge\n# TYPE s summary\n');
    expect(familyOf('h_bucket', exposition)).toBe('h');
    expect(familyOf('h_count', exposition)).toBe('h');
    expect(familyOf('s_sum', exposition)).toBe('s');
    expect(familyOf('s_bucket', exposition)).toBeNull();
    expect(familyOf('g_bucket', exposition)).toBeNull();
    expect(familyOf('g', exposition)).toBe('g');
    expect(familyOf('missing', exposition)).toBeNull();
  });
});

describe('metric names in the dashboard and alert rules', () => {
  it('reads only metrics that Metrics.render() exports', async () => {
    const { exposition } = await exported();
    const unknown: string[] = [];
    for (const use of uses()) {
      for (const name of promqlMetricNames(use.expr)) {
        if (!SYNTHETIC_SERIES.has(name) && familyOf(name, exposition) === null) unknown.push(`${use.where}: ${name}`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it('matches and groups only on labels the metrics carry', async () => {
    const { exposition, labels } = await exported();
    const wrong: string[] = [];
    for (const use of uses()) {
      const known = new Set([...TARGET_LABELS, 'le']);
      for (const name of promqlMetricNames(use.expr)) {
        const family = familyOf(name, exposition);
        for (const label of (family && labels.get(family)) || []) known.add(label);
      }
      for (const selector of promqlSelectors(use.expr)) {
        const family = familyOf(selector.metric, exposition);
        if (!family) continue;
        const own = new Set([...(labels.get(family) ?? []), ...TARGET_LABELS, ...(selector.metric.endsWith('_bucket') ? ['le'] : [])]);
        for (const label of selector.labels) if (!own.has(label)) wrong.push(`${use.where}: ${selector.metric}{${label}}`);
      }
      for (const label of promqlGroupingLabels(use.expr)) if (!known.has(label)) wrong.push(`${use.where}: by/on (${label})`);
    }
    expect(wrong).toEqual([]);
  });

  it('shows every voicegate metric on the dashboard', async () => {
    const { exposition } = await exported();
    const shown = new Set<string>();
    for (const query of dashboardQueries(loadDashboard())) {
      for (const name of promqlMetricNames(query.expr)) {
        const family = familyOf(name, exposition);
        if (family) shown.add(family);
      }
    }
    const voicegate = [...exposition.types.keys()].filter((name) => name.startsWith('voicegate_'));
    expect(voicegate.length).toBeGreaterThanOrEqual(16);
    expect(voicegate.filter((name) => !shown.has(name))).toEqual([]);
  });

  it('exports each metric with help text and no session label', async () => {
    const metrics = new Metrics();
    const text = await metrics.render();
    const { labels } = await exported();
    for (const name of parseExposition(text).types.keys()) {
      if (!name.startsWith('voicegate_')) continue;
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S.{10,}$`, 'm'));
      for (const label of labels.get(name) ?? []) expect(label).not.toMatch(/session|call|conn/i);
    }
  });
});
