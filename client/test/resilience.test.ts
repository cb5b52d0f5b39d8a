// Retries, reconnects and failures of the Node client against real servers: a retried or reconnected
// `chat.completions` never starts a second run, and a server that cannot be reached ends the stream
// with a ChatClientError within seconds instead of a silent retry loop.
import { randomUUID } from 'node:crypto';
import type { ChatEvent } from '@astron-chat/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../../server/test/support/backends.ts';
import { freePort } from '../../server/test/support/child-services.ts';
import { startCuttingProxy } from '../../server/test/support/cutting-proxy.ts';
import { startTestApp, type TestApp } from '../../server/test/support/test-app.ts';
import { ChatClientError, createChatClient, type ChatClientOptions } from '../src/index.ts';

const transports: Array<ChatClientOptions['transport']> = ['sse', 'ws'];

function ask(uid: string, question: string) {
  return { bot_id: 'demo-bot', uid, parameters: { messages: [{ role: 'user' as const, content: question }] } };
}

const textOf = (events: ChatEvent[]) =>
  events.flatMap((event) => (event.type === 'text-delta' ? [event.text] : [])).join('');

async function collect(events: AsyncIterable<ChatEvent>): Promise<ChatEvent[]> {
  const collected: ChatEvent[] = [];
  for await (const event of events) collected.push(event);
  return collected;
}

/** How the stream ended: its error, and how long after the start. */
async function failureOf(events: AsyncIterable<ChatEvent>): Promise<{ error: ChatClientError; ms: number }> {
  const startedAt = Date.now();
  const error = await collect(events).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ChatClientError);
  return { error: error as ChatClientError, ms: Date.now() - startedAt };
}

async function runsOf(testApp: TestApp, uid: string) {
  return testApp.app.database.db.selectFrom('runs').select(['id', 'status']).where('uid', '=', uid).execute();
}

describe.each(testBackends())('retries and reconnects against $name', (backend) => {
  let server: TestApp;
  let other: TestApp | undefined;

  beforeAll(async () => {
    [server, other] = await Promise.all([
      startTestApp(backend, { env: { DEMO_MODEL_DELAY_MS: '15' } }),
      // A second instance on the same database and Redis: only then do instances share runs.
      backend.redisUrl ? startTestApp(backend, { env: { DEMO_MODEL_DELAY_MS: '15' } }) : undefined,
    ]);
  });
  afterAll(async () => {
    await Promise.all([server?.close(), other?.close()]);
  });

  describe.each(transports)('over %s', (transport) => {
    /** The answer as a connection that is never cut gets it. */
    async function referenceAnswer(question: string): Promise<string> {
      const client = createChatClient({ url: server.url, transport, apiKey: 'sk-demo' });
      try {
        return textOf(await collect(client.streamCompletion(ask(`reference-${randomUUID()}`, question))));
      } finally {
        client.close();
      }
    }

    /** Streams `question` through a proxy that cuts the connection at `marker`; the client retries on its own. */
    async function streamThroughCut(marker: string, question: string) {
      const proxy = await startCuttingProxy(server.url);
      const client = createChatClient({ url: proxy.url, transport, apiKey: 'sk-demo' });
      const uid = `cut-${randomUUID()}`;
      try {
        const cut = proxy.cutAt(marker);
        const events = await collect(client.streamCompletion(ask(uid, question)));
        await cut;
        return { events, uid, proxy };
      } finally {
        client.close();
        await proxy.kill();
      }
    }

    it('a connection cut before the first event is retried and attaches to the run it started: one run, whole answer', async () => {
      const question = 'cut me before you answer';
      const { events, uid } = await streamThroughCut('"run-start"', question);
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
      expect(events.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
      expect(textOf(events)).toBe(await referenceAnswer(question));
      const runs = await runsOf(server, uid);
      expect(runs).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'run-start', runId: runs[0]?.id });
    });

    it('a connection cut mid-answer resumes after the last event: one run, nothing lost or repeated', async () => {
      const question = 'cut me in the middle of a sentence please';
      const { events, uid } = await streamThroughCut('"seq":5', question);
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
      expect(textOf(events)).toBe(await referenceAnswer(question));
      expect(await runsOf(server, uid)).toHaveLength(1);
    });

    it.runIf(backend.redisUrl)('a retry that reaches another instance attaches to the run there', async () => {
      const question = 'start on one instance, finish on the other';
      const proxy = await startCuttingProxy(server.url);
      const client = createChatClient({ url: proxy.url, transport, apiKey: 'sk-demo' });
      const movedUid = `moved-${randomUUID()}`;
      try {
        const cut = proxy.cutAt('"run-start"').then(() => proxy.retarget((other as TestApp).url));
        const moved = await collect(client.streamCompletion(ask(movedUid, question)));
        await cut;
        expect(moved.map((event) => event.seq)).toEqual(moved.map((_, index) => index));
        expect(textOf(moved)).toBe(await referenceAnswer(question));
        expect(await runsOf(server, movedUid)).toHaveLength(1);
      } finally {
        client.close();
        await proxy.kill();
      }
    });

    it('a server that is not there ends the stream at once with "cannot connect to <url>"', async () => {
      const url = `http://127.0.0.1:${await freePort()}`;
      const client = createChatClient({ url, transport, apiKey: 'sk-demo' });
      try {
        const { error, ms } = await failureOf(client.streamCompletion(ask('nobody', 'hello?')));
        expect(error.message).toBe(`cannot connect to ${url}: is the server running?`);
        expect(error.code).toBe(1006);
        expect(ms).toBeLessThan(3_000);
        // Queries say the same, not "fetch failed".
        await expect(client.trpc.chat.bots.query()).rejects.toMatchObject({
          message: `cannot connect to ${url}: is the server running?`,
        });
      } finally {
        client.close();
      }
    });

    it('a server that dies mid-answer ends the stream within the reconnect window', async () => {
      const proxy = await startCuttingProxy(server.url);
      const client = createChatClient({ url: proxy.url, transport, apiKey: 'sk-demo', reconnectWindowMs: 1_000 });
      const events: ChatEvent[] = [];
      let diedAt = 0;
      try {
        const error = await (async () => {
          for await (const event of client.streamCompletion(ask(`dies-${randomUUID()}`, 'talk until the end'))) {
            events.push(event);
            if (event.type === 'text-delta' && diedAt === 0) {
              diedAt = Date.now();
              await proxy.kill();
            }
          }
        })().then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(error).toBeInstanceOf(ChatClientError);
        expect((error as ChatClientError).message).toBe(`cannot connect to ${proxy.url}: is the server running?`);
        expect(Date.now() - diedAt).toBeLessThan(4_000);
        expect(events.some((event) => event.type === 'finish')).toBe(false);
      } finally {
        client.close();
      }
    });
  });

  it('a key reused for another request is refused with 1001 naming idempotencyKey', async () => {
    const client = createChatClient({ url: server.url, transport: 'sse', apiKey: 'sk-demo' });
    const uid = `reuse-${randomUUID()}`;
    const idempotencyKey = randomUUID();
    try {
      const first = await collect(client.streamCompletion(ask(uid, 'first question'), { idempotencyKey }));
      // The same key and request again: the same run, replayed.
      const again = await collect(client.streamCompletion(ask(uid, 'first question'), { idempotencyKey }));
      expect(again).toEqual(first);
      const { error } = await failureOf(client.streamCompletion(ask(uid, 'another question'), { idempotencyKey }));
      expect(error.code).toBe(1001);
      expect(error.message).toContain('idempotencyKey was used for another request');
      // Keys are per user: another uid with the same key is its own run.
      await collect(client.streamCompletion(ask(`${uid}-2`, 'another question'), { idempotencyKey }));
      expect(await runsOf(server, uid)).toHaveLength(1);
      expect(await runsOf(server, `${uid}-2`)).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  it('a resumable REST request retried with its Idempotency-Key attaches to the run', async () => {
    const uid = `rest-${randomUUID()}`;
    const body = JSON.stringify({ ...ask(uid, 'rest retry'), stream: true });
    const headers = {
      authorization: 'Bearer sk-demo',
      'content-type': 'application/json',
      'x-astron-resumable': 'true',
      'idempotency-key': randomUUID(),
    };
    const post = () => fetch(`${server.url}/agent/v1/chat/completions`, { method: 'POST', headers, body });
    const first = await post();
    const runId = first.headers.get('x-astron-run-id');
    // Dropped before reading anything: the retry gets the whole run from its start.
    await first.body?.cancel();
    const retry = await post();
    expect(retry.headers.get('x-astron-run-id')).toBe(runId);
    const text = await retry.text();
    expect(text).toContain(`id: ${runId}:0\n`);
    expect(text).toContain('data: [DONE]');
    expect(await runsOf(server, uid)).toHaveLength(1);
    const badKey = await fetch(`${server.url}/agent/v1/chat/completions`, {
      method: 'POST',
      headers: { ...headers, 'idempotency-key': 'short' },
      body,
    });
    expect(badKey.status).toBe(400);
    expect(await badKey.json()).toMatchObject({ code: 1001, message: expect.stringContaining('Idempotency-Key') });
  });
});
