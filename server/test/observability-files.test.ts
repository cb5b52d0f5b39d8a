import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../src/observability/metrics.ts';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/** Every series name /metrics can carry: each metric, and a histogram's _bucket, _sum and _count. */
async function servedSeriesNames(): Promise<Set<string>> {
  const metrics = createMetrics();
  const names = new Set<string>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
    if (String(metric.type) === 'counter' && !metric.name.endsWith('_total')) names.add(`${metric.name}_total`);
  }
  return names;
}

/** Metric names in a PromQL expression: identifiers outside label matchers, groupings and strings, not functions. */
function metricNamesIn(expr: string): string[] {
  const withoutLabels = expr
    .replace(/\{[^}]*\}/g, '')
    .replace(/"[^"]*"/g, '')
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '');
  const keywords = new Set([
    'by',
    'without',
    'on',
    'ignoring',
    'group_left',
    'group_right',
    'and',
    'or',
    'unless',
    'bool',
    'offset',
  ]);
  return [...withoutLabels.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)]
    .map((match) => match[1] as string)
    .filter((name) => !keywords.has(name) && !/^\d/.test(name));
}

describe('alert rules and dashboard', () => {
  it('every alert rule and dashboard panel queries metrics the server serves', async () => {
    const served = await servedSeriesNames();
    const rules = (
      parse(read('deploy/prometheus/alerts.yml')) as {
        groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
      }
    ).groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.alert)).toEqual([
      'AstronChatP95ResponseTimeHigh',
      'AstronChatErrorRateHigh',
      'AstronChatConcurrencyHigh',
      'AstronChatCacheHitRateLow',
      'AstronChatWorkflowTimeHigh',
    ]);
    const dashboard = JSON.parse(read('deploy/grafana/astron-chat.json')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    const queries = [
      ...rules.map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr })),
      ...dashboard.panels.flatMap((panel) =>
        panel.targets.map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr })),
      ),
    ];
    const unknown = queries.flatMap(({ where, expr }) =>
      metricNamesIn(expr)
        .filter((name) => !served.has(name))
        .map((name) => `${where}: ${name}`),
    );
    expect(unknown).toEqual([]);
    // The check itself finds names (a regex that matched nothing would pass everything).
    expect(queries.flatMap(({ expr }) => metricNamesIn(expr))).toContain('http_server_request_duration_seconds_bucket');
  });
});
