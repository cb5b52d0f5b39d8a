import type { ChatEvent } from '@astron-chat/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../../server/test/support/backends.ts';
import { startTestApp, type TestApp } from '../../server/test/support/test-app.ts';
import { ChatClientError, createChatClient, jitteredBackoffMs, type ChatClientOptions } from '../src/index.ts';

const API_KEY = 'sk-demo';
const BOT_ID = 'demo-bot';
const transports: Array<ChatClientOptions['transport']> = ['sse', 'ws'];

function ask(question: string, botId = BOT_ID) {
  return {
    bot_id: botId,
    uid: 'client-test',
    parameters: { messages: [{ role: 'user' as const, content: question }] },
  };
}

async function collect(events: AsyncIterable<ChatEvent>): Promise<ChatEvent[]> {
  const collected: ChatEvent[] = [];
  for await (const event of events) collected.push(event);
  return collected;
}

async function rejection(promise: Promise<unknown>): Promise<ChatClientError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ChatClientError);
  return error as ChatClientError;
}

/** Runs are recorded after the server notices the unsubscribe, so wait for the row. */
async function waitForRunStatus(testApp: TestApp, runId: string, status: string): Promise<string | undefined> {
  const deadline = Date.now() + 5_000;
  let current: string | undefined;
  while (Date.now() < deadline) {
    const run = await testApp.app.database.db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirst();
    current = run?.status;
    if (current === status) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return current;
}

describe('jitteredBackoffMs', () => {
  it('grows with the attempt, stays under the cap, and spreads clients apart', () => {
    const first = Array.from({ length: 50 }, () => jitteredBackoffMs(0));
    expect(Math.min(...first)).toBeGreaterThanOrEqual(250);
    expect(Math.max(...first)).toBeLessThanOrEqual(500);
    expect(new Set(first).size).toBeGreaterThan(1);
    expect(jitteredBackoffMs(20)).toBeLessThanOrEqual(30_000);
    expect(jitteredBackoffMs(20)).toBeGreaterThanOrEqual(15_000);
  });
});

describe.each(testBackends())('chat client against $name', (backend) => {
  let fast: TestApp;
  let paced: TestApp;

  beforeAll(async () => {
    [fast, paced] = await Promise.all([
      startTestApp(backend),
      startTestApp(backend, { env: { DEMO_MODEL_DELAY_MS: '20' } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([fast?.close(), paced?.close()]);
  });

  describe.each(transports)('over %s', (transport) => {
    const clientFor = (testApp: TestApp, options: Partial<ChatClientOptions> = {}) =>
      createChatClient({ url: testApp.url, transport, apiKey: API_KEY, ...options });

    it('streams a whole run: run-start first, the answer, finish with usage last', async () => {
      const client = clientFor(fast);
      try {
        const events = await collect(client.streamCompletion(ask('hello over the wire')));
        expect(events[0]?.type).toBe('run-start');
        const text = events.flatMap((event) => (event.type === 'text-delta' ? [event.text] : [])).join('');
        expect(text).toContain('You said: "hello over the wire"');
        const last = events.at(-1);
        expect(last?.type).toBe('finish');
        if (last?.type !== 'finish') return;
        expect(last.finishReason).toBe('stop');
        expect(last.usage.totalTokens).toBeGreaterThan(0);
        expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
      } finally {
        client.close();
      }
    });

    it('rejects a wrong API key with code 1002', async () => {
      const client = clientFor(fast, { apiKey: 'sk-wrong' });
      try {
        const error = await rejection(collect(client.streamCompletion(ask('hi'))));
        expect(error.code).toBe(1002);
      } finally {
        client.close();
      }
    });

    it('rejects an unknown bot with code 1008', async () => {
      const client = clientFor(fast);
      try {
        const error = await rejection(collect(client.streamCompletion(ask('hi', 'no-such-bot'))));
        expect(error.code).toBe(1008);
        expect(error.message).toContain('no-such-bot');
      } finally {
        client.close();
      }
    });

    it('cancels the run when the consumer breaks out of the loop', async () => {
      const client = clientFor(paced);
      try {
        let runId = '';
        let deltas = 0;
        for await (const event of client.streamCompletion(ask('please stop me early'))) {
          if (event.type === 'run-start') runId = event.runId;
          if (event.type === 'text-delta' && ++deltas === 2) break;
        }
        expect(runId).not.toBe('');
        expect(await waitForRunStatus(paced, runId, 'cancelled')).toBe('cancelled');
      } finally {
        client.close();
      }
    });

    it('cancels the run when the signal aborts', async () => {
      const client = clientFor(paced);
      const controller = new AbortController();
      try {
        let runId = '';
        const consumed = (async () => {
          for await (const event of client.streamCompletion(ask('abort me'), { signal: controller.signal })) {
            if (event.type === 'run-start') runId = event.runId;
            if (event.type === 'text-delta') controller.abort();
          }
        })();
        await expect(consumed).rejects.toMatchObject({ name: 'AbortError' });
        expect(await waitForRunStatus(paced, runId, 'cancelled')).toBe('cancelled');
      } finally {
        client.close();
      }
    });

    it('fails once, without re-running, when the server answers with an internal error', async () => {
      // A database that is gone makes the bot lookup throw before run-start: tRPC calls that
      // INTERNAL_SERVER_ERROR, which httpSubscriptionLink would otherwise retry forever.
      const broken = await startTestApp(backend);
      await broken.app.database.db.destroy();
      const client = clientFor(broken);
      try {
        // A bot no cache holds, so the lookup reaches the closed database.
        const error = await rejection(collect(client.streamCompletion(ask('hi', `uncached-${Date.now()}`))));
        expect(error.code).toBe(1006);
      } finally {
        client.close();
        await broken.close().catch(() => undefined);
      }
    });

    it('stops with an error instead of buffering without bound for a stalled consumer', async () => {
      const client = clientFor(fast, { maxBufferedEvents: 3 });
      try {
        const events = client.streamCompletion(ask('a long enough question to overflow a tiny buffer'));
        const iterator = events[Symbol.asyncIterator]();
        await iterator.next();
        // Stall while the server keeps pushing.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const error = await rejection(
          (async () => {
            for (let step = await iterator.next(); !step.done; step = await iterator.next());
          })(),
        );
        expect(error.code).toBe(1010);
      } finally {
        client.close();
      }
    });
  });
});
