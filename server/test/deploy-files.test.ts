import { readdirSync, readFileSync } from 'node:fs';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
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

/**
 * deploy/k8s offline: each object against the Kubernetes JSON schemas the kubernetes-models package
 * bundles (its classes' validate()), then what is ours: probes, the ConfigMap/Secret split, env names
 * the server reads, the HPA's metrics. scripts/check-deploy.sh runs this file too.
 */
describe('Kubernetes manifests', () => {
  const models: Record<string, new (data: never) => { validate(): void }> = {
    'v1/ConfigMap': ConfigMap,
    'v1/Secret': Secret,
    'v1/Service': Service,
    'apps/v1/Deployment': Deployment,
    'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
    'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  };
  type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: any };
  const objects: K8sObject[] = readdirSync(new URL('deploy/k8s/', root))
    .filter((name) => /\.ya?ml$/.test(name))
    .flatMap((file) =>
      parseAllDocuments(read(`deploy/k8s/${file}`)).map((document) => {
        if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((e) => e.message).join('; ')}`);
        return document.toJS() as K8sObject;
      }),
    );
  const find = (kind: string) => objects.find((object) => object.kind === kind) as K8sObject;

  it('every object is valid against its Kubernetes schema', () => {
    expect(objects.map((object) => object.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'Secret',
      'Service',
    ]);
    const invalid = objects.flatMap((object) => {
      const Model = models[`${object.apiVersion}/${object.kind}`];
      if (!Model) return [`${object.apiVersion}/${object.kind}: no schema`];
      try {
        new Model(object as never).validate();
        return [];
      } catch (error) {
        return [`${object.kind} ${object.metadata.name}: ${(error as Error).message}`];
      }
    });
    expect(invalid).toEqual([]);
    // The validator does reject a bad object (so the check above means something).
    const broken = structuredClone(find('Deployment'));
    broken.spec.replicas = 'two';
    expect(() => new Deployment(broken as never).validate()).toThrow(/replicas/);
  });

  it('probes, the ConfigMap/Secret split, env names and HPA metrics match the server', () => {
    const container = find('Deployment').spec.template.spec.containers[0];
    expect(container.livenessProbe.httpGet.path).toBe('/health/live');
    expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(container.envFrom).toEqual([
      { configMapRef: { name: find('ConfigMap').metadata.name } },
      { secretRef: { name: find('Secret').metadata.name } },
    ]);
    const configSource = read('server/src/config/config.ts');
    const known = new Set([...configSource.matchAll(/^\s{2}([A-Z][A-Z0-9_]+):/gm)].map((match) => match[1]));
    const names = [...Object.keys(find('ConfigMap').data), ...Object.keys(find('Secret').stringData)];
    expect(names.filter((name) => !known.has(name) && !name.startsWith('OTEL_'))).toEqual([]);
    expect(Object.keys(find('Secret').stringData)).toEqual(expect.arrayContaining(['DATABASE_URL', 'ADMIN_TOKEN']));
    const metrics = (find('HorizontalPodAutoscaler').spec.metrics as Array<Record<string, any>>).map(
      (metric) => metric.resource?.name ?? metric.pods?.metric?.name,
    );
    expect(metrics).toEqual(['cpu', 'astron_chat_active_runs']);
  });
});
