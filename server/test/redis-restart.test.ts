import type { ChildProcess } from 'node:child_process';
import { createChatClient, ChatClientError, type ChatEvent } from '@astron-chat/client';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, hasRedisServer, startRedis } from './support/child-services.ts';
import { postJson } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

if (process.env.CI && !hasRedisServer) throw new Error('CI must have redis-server: the restart test runs its own.');

describe.runIf(hasRedisServer)('Redis restarted mid-stream', () => {
  let redis: ChildProcess | undefined;
  let server: TestApp | undefined;
  afterAll(async () => {
    await server?.close();
    redis?.kill('SIGKILL');
  });

  it('ends the stream with a clear code instead of hanging, and the server recovers without a restart', async () => {
    const port = await freePort();
    redis = await startRedis(port);
    server = await startTestApp(
      { name: 'sqlite', databaseUrl: undefined, redisUrl: `redis://127.0.0.1:${port}/0` },
      { env: { DEMO_MODEL_DELAY_MS: '30', ORPHAN_TIMEOUT_SECONDS: '2' } },
    );
    const client = createChatClient({ url: server.url, transport: 'sse', apiKey: 'sk-demo' });
    const events: ChatEvent[] = [];
    let failure: unknown;
    const startedAt = Date.now();
    try {
      for await (const event of client.streamCompletion({
        bot_id: 'demo-bot',
        uid: 'u',
        parameters: { messages: [{ role: 'user', content: 'a long answer while redis goes away '.repeat(5) }] },
      })) {
        events.push(event);
        if (events.filter((seen) => seen.type === 'text-delta').length === 3 && redis.exitCode === null) {
          redis.kill('SIGKILL');
          await new Promise((resolve) => setTimeout(resolve, 300));
          redis = await startRedis(port);
        }
      }
    } catch (error) {
      failure = error;
    }
    client.close();
    expect(Date.now() - startedAt).toBeLessThan(20_000);
    const last = events.at(-1);
    // Either the run finished for this client, or it ended with a coded error: never a hang.
    const ended =
      last?.type === 'finish' || last?.type === 'error' || (failure instanceof ChatClientError && failure.code > 1000);
    expect(ended).toBe(true);

    const after = await postJson(
      `${server.url}/agent/v1/chat/completions`,
      { bot_id: 'demo-bot', uid: 'u', parameters: { messages: [{ role: 'user', content: 'back again' }] } },
      { authorization: 'Bearer sk-demo' },
    );
    expect(after.status).toBe(200);
    const resumed = createChatClient({ url: server.url, transport: 'ws', apiKey: 'sk-demo' });
    const text: string[] = [];
    for await (const event of resumed.streamCompletion({
      bot_id: 'demo-bot',
      uid: 'u',
      parameters: { messages: [{ role: 'user', content: 'tRPC works again' }] },
    })) {
      if (event.type === 'text-delta') text.push(event.text);
    }
    resumed.close();
    expect(text.join('')).toContain('You said: "tRPC works again"');
  }, 40_000);
});
