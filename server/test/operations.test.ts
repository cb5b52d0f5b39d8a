import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { postJson } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

describe.each(testBackends())('operations on $name', (backend) => {
  let server: TestApp;
  beforeAll(async () => {
    server = await startTestApp(backend);
  });
  afterAll(async () => {
    await server.close();
  });

  it('reports the database in /health with its latency', async () => {
    const response = await fetch(`${server.url}/health`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; checks: { database: Record<string, unknown> } };
    expect(body.status).toBe('ok');
    expect(body.checks.database).toMatchObject({ kind: backend.name, status: 'up', latencyMs: expect.any(Number) });
  });

  it('exposes runs, time to first token and requests in /metrics', async () => {
    await (
      await postJson(
        `${server.url}/v1/chat/completions`,
        { model: 'demo-bot', messages: [{ role: 'user', content: 'count me' }] },
        { authorization: 'Bearer sk-demo' },
      )
    ).json();
    const response = await fetch(`${server.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toMatch(
      /astron_chat_runs_total\{transport="openai",bot="demo-bot",status="succeeded",code="0"\} [1-9]/,
    );
    expect(text).toMatch(/astron_chat_time_to_first_token_seconds_count\{transport="openai"\} [1-9]/);
    expect(text).toMatch(
      /http_server_request_duration_seconds_count\{method="POST",route="\/v1\/chat\/completions",status="200"\} [1-9]/,
    );
    expect(text).toContain('astron_chat_active_runs 0');
  });
});
