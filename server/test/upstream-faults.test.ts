import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { testBackends } from './support/backends.ts';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { eventually, postJson, readSse, sseData } from './support/sse.ts';
import { demoWebSocketUrl, startTestApp, type TestApp } from './support/test-app.ts';

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

  // The reader does not read for 300 ms, and the upstream's chunks come 50 ms apart: the frames after
  // the large one come while the server still holds most of it unsent. They wait for the reader; a
  // reader that reads is not a slow consumer. (Before, they had it cut: 'the answer was cut', 4008.)
  const big = 'x'.repeat(5 * 1024 * 1024);
  const pause = () => new Promise((resolve) => setTimeout(resolve, 300));
  /** POSTs `body` and reads the whole answer, after not reading for a while; fails if it is cut. */
  const readAfterPause = (url: string, body: unknown) =>
    new Promise<string>((resolve, reject) => {
      const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...demoKey } });
      request.on('response', (response) => {
        response.pause();
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        response.on('close', () => (response.complete ? resolve(text) : reject(new Error('the answer was cut'))));
        void pause().then(() => response.resume());
      });
      request.on('error', reject).end(JSON.stringify(body));
    });

  it('a reading client gets every byte of one 5 MB delta on REST SSE (larger than the slow-consumer bound)', async () => {
    upstream.script = { chunks: ['start ', big, ' end'], delayMs: 50 };
    try {
      const frames = sseData(await readAfterPause(`${server.url}/agent/v1/chat/completions`, ask(true)));
      expect(frames.at(-1)).toBe('[DONE]');
      const parsed = frames.slice(0, -1).map((data) => JSON.parse(data));
      const text = parsed.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('');
      expect(text).toBe(`start ${big} end`);
      expect(await recorded(parsed[0].id)).toEqual({ status: 'succeeded', error_code: null });
    } finally {
      upstream.script = {};
    }
  });

  it('a reading client gets every byte of one 5 MB delta on the WebSocket, in order, with the frames after it', async () => {
    upstream.script = { chunks: ['start ', big, ' end'], delayMs: 50 };
    try {
      const socket = new WebSocket(demoWebSocketUrl(server));
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const frames: Array<{
        id: string;
        choices: Array<{ delta: { content?: string }; finish_reason?: string | null }>;
      }> = [];
      const closed = new Promise<number>((resolve) => socket.once('close', resolve));
      const finished = new Promise<void>((resolve) =>
        socket.on('message', (data) => {
          const frame = JSON.parse((data as Buffer).toString()) as (typeof frames)[number];
          frames.push(frame);
          if (frame.choices?.[0]?.finish_reason) resolve();
        }),
      );
      socket.send(JSON.stringify({ ...ask(true), request_id: 'big' }));
      socket.pause();
      await pause();
      socket.resume();
      expect(await Promise.race([finished.then(() => 'finished'), closed])).toBe('finished');
      const text = frames.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('');
      expect(text).toBe(`start ${big} end`);
      expect(await recorded(frames[0]!.id)).toEqual({ status: 'succeeded', error_code: null });
      socket.close();
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

describe.each(testBackends())('an upstream that never answers, on $name', (backend) => {
  it('is ended by the first-byte timeout as 1005, recorded timeout, long before the run timeout', async () => {
    const upstream = await startFakeUpstream({ headerDelayMs: 60_000 });
    const server = await startTestApp(backend, {
      env: { PROVIDER_TIMEOUT_SECONDS: '0.3', RUN_TIMEOUT_SECONDS: '600' },
      overrides: usingUpstream(upstream),
    });
    try {
      const startedAt = Date.now();
      const response = await postJson(`${server.url}/agent/v1/chat/completions`, ask(false), demoKey);
      const body = (await response.json()) as { code: number; message: string; id: string };
      expect(response.status).toBe(504);
      expect(body.code).toBe(1005);
      expect(body.message).toMatch(/took too long to answer/);
      // Four tries of 0.3 s and the retry table's backoff between them: seconds, not the run's 600 s.
      expect(Date.now() - startedAt).toBeLessThan(15_000);
      const run = await eventually(() =>
        server.app.database.db
          .selectFrom('runs')
          .select(['status', 'error_code'])
          .where('id', '=', body.id)
          .where('status', '!=', 'running')
          .executeTakeFirst(),
      );
      expect(run).toEqual({ status: 'timeout', error_code: 1005 });
    } finally {
      await server.close();
      await upstream.close();
    }
  });
});
