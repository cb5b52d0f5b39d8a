// A browser's own EventSource follows a resumable REST run and, when its connection is cut
// mid-answer, reconnects by itself with Last-Event-ID: nothing lost, nothing repeated (issue 18).
import type { IncomingMessage } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { launchChromium } from './support/browser.ts';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/** 50 words, 100 ms apart: a five-second answer, long enough to cut and reconnect inside it. */
const CHUNKS = Array.from({ length: 50 }, (_, index) => `word${index} `);
const ANSWER = CHUNKS.join('');
/** MySQL and Redis when the suite has them (the Redis run log), else the embedded default. */
const backend = testBackends().at(-1) ?? { name: 'sqlite' as const, databaseUrl: undefined, redisUrl: undefined };

type Frame = { id: string; data: string };
type PageResult = { runId: string; fetched: Frame[]; followed: Frame[]; errors: number; tokenSeen: boolean };

describe(`a browser EventSource resumes a REST run by itself on ${backend.name}`, () => {
  let upstream: FakeUpstream;
  let server: TestApp;
  let browser: Browser;
  /** Every `GET …/stream` the server received, with when it arrived. */
  const followRequests: IncomingMessage[] = [];
  const arrivals: number[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream({ chunks: CHUNKS, delayMs: 100 });
    [server, browser] = await Promise.all([
      startTestApp(backend, { env: { ORPHAN_TIMEOUT_SECONDS: '10' }, overrides: usingUpstream(upstream) }),
      launchChromium(),
    ]);
    server.app.server.on('request', (request: IncomingMessage) => {
      if (!/^\/agent\/v1\/runs\/[^/]+\/stream/.test(request.url ?? '')) return;
      followRequests.push(request);
      arrivals.push(Date.now());
    });
  }, 30_000);
  afterAll(async () => {
    await Promise.all([browser?.close(), server?.close()]);
    await upstream?.close();
  });

  /** The finished run from its start, read with the key: frames as an EventSource sees them. */
  async function wholeRun(runId: string): Promise<Frame[]> {
    const response = await fetch(`${server.url}/agent/v1/runs/${runId}/stream`, {
      headers: { authorization: 'Bearer sk-demo' },
    });
    let lastId = '';
    return (await response.text()).split('\n\n').flatMap((block) => {
      lastId = /^id: (.*)$/m.exec(block)?.[1] ?? lastId;
      const data = /^data: (.*)$/m.exec(block)?.[1];
      return data === undefined || data === '{"ping":"pong"}' ? [] : [{ id: lastId, data }];
    });
  }

  it.each([
    {
      route: 'Astron',
      path: '/agent/v1/chat/completions',
      body: {
        bot_id: 'upstream-bot',
        uid: 'browser',
        stream: true,
        parameters: { messages: [{ role: 'user', content: 'go' }] },
      },
    },
    {
      route: 'OpenAI',
      path: '/v1/chat/completions',
      body: { model: 'upstream-bot', stream: true, messages: [{ role: 'user', content: 'go' }] },
    },
  ])(
    '$route: cut mid-answer, the EventSource reconnects with Last-Event-ID and the text is whole',
    async ({ path, body }) => {
      followRequests.length = 0;
      arrivals.length = 0;
      const answered = upstream.nextEnd().then(() => Date.now());
      const page = await browser.newPage();
      // Any page of the server's own origin (no CORS involved).
      await page.goto(`${server.url}/health`);
      const run = page.evaluate(
        async ({ path, body }): Promise<PageResult> => {
          // As an EventSource reads a frame: without an `id:` line it keeps the last id.
          let lastId = '';
          const parse = (block: string): Frame | undefined => {
            lastId = /^id: (.*)$/m.exec(block)?.[1] ?? lastId;
            const data = /^data: (.*)$/m.exec(block)?.[1];
            return data === undefined || data === '{"ping":"pong"}' ? undefined : { id: lastId, data };
          };
          // 1. Start the run with the key, read a few frames, then leave that stream.
          const response = await fetch(path, {
            method: 'POST',
            headers: {
              authorization: 'Bearer sk-demo',
              'content-type': 'application/json',
              'x-astron-resumable': 'true',
            },
            body: JSON.stringify(body),
          });
          const runId = response.headers.get('x-astron-run-id') ?? '';
          const token = response.headers.get('x-astron-follow-token') ?? '';
          const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
          const fetched: Frame[] = [];
          let buffer = '';
          while (fetched.length < 4) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let end: number;
            while ((end = buffer.indexOf('\n\n')) >= 0 && fetched.length < 4) {
              const frame = parse(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
              if (frame) fetched.push(frame);
            }
          }
          await reader.cancel();
          // 2. The browser's own EventSource (it can send no Authorization header) from the last frame on.
          const afterSeq = fetched.at(-1)!.id.split(':').pop();
          const source = new EventSource(
            `/agent/v1/runs/${runId}/stream?follow_token=${encodeURIComponent(token)}&after_seq=${afterSeq}`,
          );
          const followed: Frame[] = [];
          (globalThis as unknown as { followed: Frame[] }).followed = followed;
          let errors = 0;
          return new Promise((resolve) => {
            source.onmessage = (event) => {
              if (event.data === '{"ping":"pong"}') return;
              followed.push({ id: event.lastEventId, data: event.data });
              if (event.data === '[DONE]') {
                source.close();
                resolve({ runId, fetched, followed, errors, tokenSeen: token.startsWith('ft1.') });
              }
            };
            // A cut connection: the EventSource says so, then reconnects by itself (readyState CONNECTING).
            source.onerror = () => {
              errors += 1;
            };
          });
        },
        { path, body },
      );

      // 3. Mid-answer, the network drops the EventSource's connection (the server's side of its socket).
      await expect
        .poll(() => page.evaluate(() => (globalThis as unknown as { followed?: unknown[] }).followed?.length ?? 0), {
          timeout: 15_000,
        })
        .toBeGreaterThanOrEqual(6);
      const cutAt = await page.evaluate(() => (globalThis as unknown as { followed: Frame[] }).followed.at(-1)!.id);
      expect(followRequests).toHaveLength(1);
      followRequests[0]!.socket.destroy();

      const result = await run;
      await page.close();
      expect(result.tokenSeen).toBe(true);
      expect(result.errors).toBeGreaterThanOrEqual(1);
      // It came back by itself, with the id of the last frame it had, and no key anywhere.
      expect(followRequests.length).toBeGreaterThanOrEqual(2);
      expect(followRequests[0]!.headers['last-event-id']).toBeUndefined();
      const resumed = followRequests[1]!.headers['last-event-id'];
      expect(String(resumed).startsWith(`${result.runId}:`)).toBe(true);
      expect(Number(String(resumed).split(':').pop())).toBeGreaterThanOrEqual(Number(cutAt.split(':').pop()));
      for (const request of followRequests) expect(request.headers.authorization).toBeUndefined();
      // …while the model was still answering: the rest came live, not only from the log.
      expect(arrivals[1]).toBeLessThan(await answered);

      // Every frame once, in order: the fetched ones, then what the EventSource got across the cut,
      // are the whole run as a reader from its start gets it.
      const frames = [...result.fetched, ...result.followed];
      expect(frames).toEqual(await wholeRun(result.runId));
      const text = frames
        .filter((frame) => frame.data !== '[DONE]')
        .map(
          (frame) =>
            (JSON.parse(frame.data) as { choices?: Array<{ delta?: { content?: string } }> }).choices?.[0]?.delta
              ?.content ?? '',
        )
        .join('');
      expect(text).toBe(ANSWER);
      expect(result.followed.at(-1)!.data).toBe('[DONE]');
    },
    30_000,
  );
});
