import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { postJson, readSse } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/** One line of /metrics with these labels (any order) and a value above zero. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

describe('the KPI metrics after runs', () => {
  let server: TestApp;
  let upstream: FakeUpstream;
  beforeAll(async () => {
    upstream = await startFakeUpstream();
    server = await startTestApp(
      { name: 'sqlite', databaseUrl: undefined, redisUrl: undefined },
      {
        env: { MAX_ACTIVE_RUNS: '40', MAX_CONCURRENT_RUNS_PER_APP: '20' },
        overrides: { ...usingUpstream(upstream), retryDelayScale: 0 },
      },
    );
  });
  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  it('serves request durations, run and node durations, GenAI metrics, limits and upstream errors by their names', async () => {
    const astron = (botId: string) =>
      postJson(
        `${server.url}/agent/v1/chat/completions`,
        {
          bot_id: botId,
          uid: 'u',
          stream: true,
          parameters: { messages: [{ role: 'user', content: 'What is 2+3?' }] },
        },
        { authorization: 'Bearer sk-demo' },
      );
    await readSse(await astron('demo-workflow'));
    await readSse(await astron('upstream-bot'));
    upstream.queue.push({ status: 429 });
    // Refused once with 429, answered on the retry: two calls to the provider, one of them failed.
    const retried = (await readSse(await astron('upstream-bot'))).data.join('\n');
    expect(retried).toContain('from upstream');

    const text = await (await fetch(`${server.url}/metrics`)).text();
    const route = '/agent/v1/chat/completions';
    expect(sample(text, 'http_server_request_duration_seconds_count', { method: 'POST', route, status: '200' })).toBe(
      3,
    );
    expect(sample(text, 'http_server_request_duration_seconds_bucket', { route, status: '200', le: '+Inf' })).toBe(3);
    expect(sample(text, 'astron_chat_run_duration_seconds_count', { kind: 'workflow', transport: 'astron' })).toBe(1);
    expect(sample(text, 'astron_chat_run_duration_seconds_count', { kind: 'chat', transport: 'astron' })).toBe(2);
    expect(sample(text, 'astron_chat_time_to_first_token_seconds_count', { transport: 'astron' })).toBe(3);
    expect(sample(text, 'astron_chat_runs_total', { bot: 'upstream-bot', status: 'succeeded', code: '0' })).toBe(2);
    // demo-workflow: start, the llm nodes, a template, the condition and end, each timed by type.
    for (const nodeType of ['start', 'llm', 'template', 'condition', 'end'])
      expect(sample(text, 'astron_chat_workflow_node_duration_seconds_count', { node_type: nodeType })).toBeGreaterThan(
        0,
      );

    const upstreamCall = {
      gen_ai_operation_name: 'chat',
      gen_ai_provider_name: 'upstream',
      gen_ai_request_model: 'fake-model',
    };
    expect(sample(text, 'gen_ai_client_operation_duration_seconds_count', { ...upstreamCall, error_type: '' })).toBe(2);
    expect(
      sample(text, 'gen_ai_client_operation_duration_seconds_count', { ...upstreamCall, error_type: 'rate_limited' }),
    ).toBe(1);
    expect(sample(text, 'gen_ai_client_operation_time_to_first_chunk_seconds_count', upstreamCall)).toBe(2);
    // The fake upstream reports 5 prompt tokens and one completion token per delta (3), per answered call.
    expect(sample(text, 'gen_ai_client_token_usage_sum', { ...upstreamCall, gen_ai_token_type: 'input' })).toBe(10);
    expect(sample(text, 'gen_ai_client_token_usage_sum', { ...upstreamCall, gen_ai_token_type: 'output' })).toBe(6);
    expect(
      sample(text, 'gen_ai_client_operation_duration_seconds_count', { gen_ai_provider_name: 'demo', error_type: '' }),
    ).toBeGreaterThan(0);
    expect(sample(text, 'astron_chat_upstream_errors_total', { provider: 'upstream', class: 'rate_limited' })).toBe(1);

    expect(sample(text, 'astron_chat_active_runs', {})).toBe(0);
    expect(sample(text, 'astron_chat_active_runs_limit', {})).toBe(40);
    expect(sample(text, 'astron_chat_app_concurrent_runs_limit', {})).toBe(20);
    expect(text).toMatch(/^astron_chat_cache_lookups_total\{cache="workflow",result="(hit|miss)"\} [1-9]/m);
    for (const name of ['astron_chat_event_sink_lag_seconds', 'astron_chat_event_sink_failures_total'])
      expect(text).toContain(`# TYPE ${name}`);
  });
});
