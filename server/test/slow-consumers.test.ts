import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { eventually, postJson, readSse } from './support/sse.ts';
import { rawTrpcSocket } from './support/raw-sockets.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const CHUNK = 'x'.repeat(16_384);
/**
 * About 26 MB of answer: far more than the kernel's socket buffers take for a reader that never reads
 * (on loopback they grow to several MB), so each large non-reader passes the total by itself while
 * its run still streams, and is cut then. With 10 MB, a run sometimes finished first, when the
 * kernel had taken enough of its answer, and was cut only afterwards: recorded as succeeded.
 */
const big = { chunks: Array.from({ length: 1_600 }, () => CHUNK) };
/** About 160 KB: what the kernel holds for a reader that never reads, nearly all of it. */
const small = { chunks: Array.from({ length: 10 }, () => CHUNK) };
const TOTAL = 4 * 1024 * 1024;

describe.each(testBackends())('the total budget for unsent bytes on $name', (backend) => {
  let server: TestApp;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    server = await startTestApp(backend, {
      env: {
        // Each stream alone may hold far more than the total: only the total cuts here.
        STREAM_MAX_BUFFERED_BYTES: String(256 * 1024 * 1024),
        STREAM_MAX_TOTAL_BUFFERED_BYTES: String(TOTAL),
        ORPHAN_TIMEOUT_SECONDS: '60',
      },
      overrides: usingUpstream(upstream),
    });
  });
  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  const metric = async (pattern: RegExp) =>
    Number(pattern.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);

  it('cuts the largest non-reading clients first (4008 / a closed response), keeps the total bounded, and leaves readers alone', async () => {
    const { port } = new URL(server.url);
    // This test's runs, apart from other files' on a shared database.
    const user = `budget-${randomUUID()}`;
    const question = { model: 'upstream-bot', stream: true, user, messages: [{ role: 'user', content: 'go' }] };
    const openaiBody = JSON.stringify(question);
    /** A REST client that sends its request and never reads the answer. */
    const nonReadingRest = (): Socket => {
      const socket = connect(Number(port), '127.0.0.1');
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sk-demo\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(openaiBody)}\r\n\r\n${openaiBody}`,
      );
      socket.pause();
      return socket;
    };
    /** Starts a client, waiting until its request reached the upstream, so the queued scripts go in order. */
    const started = async <Client>(open: () => Client): Promise<Client> => {
      const before = upstream.requests.length;
      const client = open();
      await eventually(() => Promise.resolve(upstream.requests.length > before), 10_000);
      return client;
    };

    // The total the server counts, sampled all along; it never passes the budget.
    let highest = 0;
    const sampler = setInterval(() => {
      highest = Math.max(highest, server.app.dependencies.streams.unsent.countedBytes());
    }, 5);
    try {
      upstream.queue.push(small, big, big, big, { ...big, delayMs: 1 });
      const smallReader = await started(nonReadingRest);
      const bigRest = [await started(nonReadingRest), await started(nonReadingRest)];
      const trpcInput = {
        bot_id: 'upstream-bot',
        uid: user,
        parameters: { messages: [{ role: 'user', content: 'go' }] },
      };
      const bigTrpc = await started(() => rawTrpcSocket(server, 'chat.completions', trpcInput));
      // A client that reads, streaming as much while the non-readers pile up.
      const reader = await started(() =>
        postJson(`${server.url}/v1/chat/completions`, question, { authorization: 'Bearer sk-demo' }),
      );
      const { data } = await readSse(reader);
      expect(data.at(-1)).toBe('[DONE]');
      const text = data
        .slice(0, -1)
        .map((payload) => JSON.parse(payload).choices?.[0]?.delta?.content ?? '')
        .join('');
      expect(text.length).toBe(big.chunks.length * CHUNK.length);

      // The three large non-readers were cut for the total; the small one was not.
      expect(
        await eventually(
          async () =>
            (await metric(/slow_consumer_cuts_total\{transport="openai",limit="total"\} (\d+)/)) >= 2
              ? true
              : undefined,
          20_000,
        ),
      ).toBe(true);
      expect(
        await eventually(
          async () =>
            (await metric(/slow_consumer_cuts_total\{transport="trpc",limit="total"\} (\d+)/)) >= 1 ? true : undefined,
          20_000,
        ),
      ).toBe(true);
      expect(await metric(/slow_consumer_cuts_total\{transport="openai",limit="stream"\} (\d+)/)).toBe(0);
      // The cut REST runs are recorded as a cut reader's are: cancelled. The small one finished.
      const statuses = async () =>
        (
          await server.app.database.db
            .selectFrom('runs')
            .select(['status'])
            .where('uid', '=', user)
            .where('transport', '=', 'openai')
            .execute()
        )
          .map((run) => run.status)
          .sort();
      // A cancelled run waits up to 5 s for the usage of model calls still stopping before it is recorded.
      await eventually(async () => ((await statuses()).includes('running') ? undefined : true), 30_000).catch(
        () => undefined,
      );
      expect(await statuses()).toEqual(['cancelled', 'cancelled', 'succeeded', 'succeeded']);
      // The tRPC socket was closed with 4008 and, its reader stalled, terminated a second later: once
      // it reads, it finds the end of a connection the server let go of (its run goes on regardless).
      const ended = new Promise((resolve) => bigTrpc.once('close', resolve));
      bigTrpc.resume();
      await ended;
      expect(highest).toBeGreaterThan(0);
      expect(highest).toBeLessThanOrEqual(TOTAL);
      for (const socket of [smallReader, ...bigRest, bigTrpc]) socket.destroy();
    } finally {
      clearInterval(sampler);
    }
  }, 60_000);
});
