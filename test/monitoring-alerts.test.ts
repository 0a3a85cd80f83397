/**
 * deploy/prometheus: the scrape config and alert rules pass promtool, the alert unit tests
 * (alerts.test.yml) pass and cover every alert both firing and staying quiet, every
 * dashboard query is valid PromQL, and every alert points at its runbook section.
 *
 * promtool comes from the Debian package `prometheus`. Its absence is a failure, not a
 * skip: these checks are the only thing standing between a typo and a silent alert.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  ALERTS_PATH,
  ALERT_TESTS_PATH,
  PROMETHEUS_DIR,
  PROMETHEUS_INSTALL_HINT,
  ROOT,
  SCRAPE_CONFIG_PATH,
  dashboardQueries,
  findExecutable,
  loadAlertRules,
  loadDashboard,
  runTool,
  substituteVariables,
  testVariableValues,
} from './helpers/prometheus.ts';

const promtool = findExecutable('promtool');
const rules = loadAlertRules();
const scratch = mkdtempSync(join(tmpdir(), 'voicegate-promtool-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function requirePromtool(): string {
  if (!promtool) throw new Error(`promtool is not installed; install it with: ${PROMETHEUS_INSTALL_HINT}`);
  return promtool;
}

describe('promtool', () => {
  it('is installed', () => {
    expect(promtool, `install it with: ${PROMETHEUS_INSTALL_HINT}`).not.toBeNull();
  });

  it('accepts the scrape config and its rule files', () => {
    const result = runTool(requirePromtool(), ['check', 'config', SCRAPE_CONFIG_PATH]);
    expect(result.output).toContain('SUCCESS');
    expect(result.code, result.output).toBe(0);
  });

  it('accepts the alert rules', () => {
    const result = runTool(requirePromtool(), ['check', 'rules', ALERTS_PATH]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('passes the alert unit tests', () => {
    const result = runTool(requirePromtool(), ['test', 'rules', ALERT_TESTS_PATH], PROMETHEUS_DIR);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  it('parses every dashboard query as PromQL', () => {
    // promtool 2.42 has no PromQL formatter; recording rules are parsed by `check rules`.
    const queries = dashboardQueries(loadDashboard());
    const file = join(scratch, 'dashboard-queries.yml');
    writeFileSync(file, stringifyYaml({
      groups: [{
        name: 'dashboard',
        rules: queries.map((q) => ({ record: `dashboard:panel_${q.panelId}_${q.refId}`, expr: substituteVariables(q.expr, testVariableValues('1m')) })),
      }],
    }));
    const result = runTool(requirePromtool(), ['check', 'rules', file]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain(`SUCCESS: ${queries.length} rules found`);
  });

  it('fails alert unit tests that expect the wrong thing (the harness can fail)', () => {
    const tests = parseYaml(readFileSync(ALERT_TESTS_PATH, 'utf8')) as { tests: { alert_rule_test: { exp_alerts: unknown[] }[] }[] };
    const broken = structuredClone(tests);
    const firing = broken.tests.flatMap((t) => t.alert_rule_test).find((t) => t.exp_alerts.length > 0);
    if (!firing) throw new Error('no firing case in alerts.test.yml');
    firing.exp_alerts = [];
    const file = join(scratch, 'broken.test.yml');
    writeFileSync(file, stringifyYaml({ ...broken, rule_files: [ALERTS_PATH] }));
    const result = runTool(requirePromtool(), ['test', 'rules', file], scratch);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('FAILED');
  });
});

describe('alert rules', () => {
  const tests = parseYaml(readFileSync(ALERT_TESTS_PATH, 'utf8')) as {
    tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
  };
  const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);

  it('includes the alerts operators rely on', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(expect.arrayContaining([
      'VoicegateInstanceDown', 'VoicegateFleetUtilizationHigh', 'VoicegateTtfbP95OverBudget', 'VoicegateFailoverSpike', 'VoicegateCartesiaShareHigh',
    ]));
    expect(new Set(rules.map((rule) => rule.alert)).size).toBe(rules.length);
  });

  it.each(rules.map((rule) => [rule.alert, rule] as const))('%s is unit-tested firing and not firing', (name) => {
    const own = cases.filter((c) => c.alertname === name);
    expect(own.some((c) => (c.exp_alerts ?? []).length > 0), 'a case where it fires').toBe(true);
    expect(own.some((c) => (c.exp_alerts ?? []).length === 0), 'a case where it stays quiet').toBe(true);
  });

  it.each(rules.map((rule) => [rule.alert, rule] as const))('%s has severity, for, summary, description and a runbook section', (name, rule) => {
    const operations = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const anchors = new Set([...operations.matchAll(/^#+\s+(.+)$/gm)].map((m) => m[1].trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
    expect(['critical', 'warning', 'info']).toContain(rule.labels?.severity);
    expect(rule.for).toMatch(/^\d+[smh]$/);
    expect(rule.annotations?.summary).toBeTruthy();
    expect(rule.annotations?.description).toBeTruthy();
    const runbook = /^docs\/operations\.md#(.+)$/.exec(rule.annotations?.runbook_url ?? '');
    expect(runbook, 'runbook_url').not.toBeNull();
    expect(anchors, `docs/operations.md heading for #${runbook?.[1]}`).toContain(runbook?.[1]);
    expect(runbook?.[1]).toBe(name.toLowerCase());
  });
});
