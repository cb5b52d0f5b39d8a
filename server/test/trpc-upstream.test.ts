import { createChatClient } from '@astron-chat/client';
import type { ChatEvent } from '@astron-chat/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { eventually } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const ask = { bot_id: 'upstream-bot', uid: 'u', parameters: { messages: [{ role: 'user' as const, content: 'go' }] } };

describe.each(testBackends())('tRPC against an OpenAI-compatible upstream on $name', (backend) => {
  let server: TestApp;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    server = await startTestApp(backend, {
      overrides: usingUpstream(upstream),
    });
  });
  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  for (const transport of ['sse', 'ws'] as const) {
    it(`${transport}: streams typed reasoning, text and usage events`, async () => {
      upstream.script = { reasoning: ['why'], chunks: ['a', 'b'], delayMs: 5 };
      const client = createChatClient({ url: server.url, transport, apiKey: 'sk-demo' });
      try {
        const events: ChatEvent[] = [];
        for await (const event of client.streamCompletion(ask)) events.push(event);
        expect(events[0]).toMatchObject({ type: 'run-start', model: 'fake-model', botId: 'upstream-bot' });
        const text = (type: string) =>
          events.flatMap((event) => (event.type === type && 'text' in event ? [event.text] : [])).join('');
        expect(text('reasoning-delta')).toBe('why');
        expect(text('text-delta')).toBe('ab');
        expect(events.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop', usage: { totalTokens: 8 } });
        expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
      } finally {
        client.close();
      }
    });

    it(`${transport}: leaving mid-stream closes the upstream request and records the run as cancelled`, async () => {
      upstream.script = { chunks: Array.from({ length: 50 }, (_, index) => `w${index} `), delayMs: 40 };
      const client = createChatClient({ url: server.url, transport, apiKey: 'sk-demo' });
      try {
        const ended = upstream.nextEnd();
        let runId = '';
        for await (const event of client.streamCompletion(ask)) {
          if (event.type === 'run-start') runId = event.runId;
          if (event.type === 'text-delta') break;
        }
        expect(await ended).toBe('closed-by-client');
        const run = await eventually(() =>
          server.app.database.db
            .selectFrom('runs')
            .select('status')
            .where('id', '=', runId)
            .where('status', '=', 'cancelled')
            .executeTakeFirst(),
        );
        expect(run.status).toBe('cancelled');
      } finally {
        client.close();
      }
    });
  }
});
