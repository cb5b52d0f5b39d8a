import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { eventually, postJson, readSse } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const demoKey = { authorization: 'Bearer sk-demo' };
const ask = (stream: boolean) => ({
  bot_id: 'upstream-bot',
  uid: 'u',
  stream,
  parameters: { messages: [{ role: 'user', content: 'fault?' }] },
});

/** Each upstream fault ends the run with the code that names it, recorded with the matching status. */
describe.each(testBackends())('upstream faults on $name', (backend) => {
  let server: TestApp;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    server = await startTestApp(backend, { overrides: usingUpstream(upstream) });
  });
  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  const recorded = (runId: string) =>
    eventually(() =>
      server.app.database.db
        .selectFrom('runs')
        .select(['status', 'error_code'])
        .where('id', '=', runId)
        .where('status', '!=', 'running')
        .executeTakeFirst(),
    );

  it("an upstream 429 is the provider's rate limit: 1003 and HTTP 429, not an upstream failure", async () => {
    upstream.script = { status: 429, retryAfter: '1' };
    try {
      const response = await postJson(`${server.url}/agent/v1/chat/completions`, ask(false), demoKey);
      expect(response.status).toBe(429);
      // After the retries the provider's Retry-After allowed, the caller gets it too.
      expect(response.headers.get('retry-after')).toBe('1');
      const body = (await response.json()) as { code: number; message: string; id: string };
      expect(body.code).toBe(1003);
      expect(body.message).toMatch(/HTTP 429/);
      expect(await recorded(body.id)).toEqual({ status: 'failed', error_code: 1003 });
    } finally {
      upstream.script = {};
    }
  });

  it('a connection reset mid-stream is an upstream error (1009), not our overload (1010)', async () => {
    upstream.script = { chunks: ['a', 'b', 'c'], delayMs: 50, resetAfter: 1 };
    try {
      const response = await postJson(`${server.url}/agent/v1/chat/completions`, ask(true), demoKey);
      const frames = (await readSse(response)).data
        .filter((data) => data !== '[DONE]')
        .map((data) => JSON.parse(data) as { id: string; code: number; message: string });
      const last = frames.at(-1)!;
      expect(last.code).toBe(1009);
      expect(last.message).toMatch(/broke mid-stream \(ECONNRESET\)/);
      expect(await recorded(last.id)).toEqual({ status: 'failed', error_code: 1009 });
    } finally {
      upstream.script = {};
    }
  });
});
