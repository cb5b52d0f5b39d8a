import { createChatClient, type ChatEvent } from '@astron-chat/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { eventually } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const ask = (content: string, extra: Record<string, unknown> = {}) => ({
  bot_id: 'demo-bot',
  uid: 'u',
  parameters: { messages: [{ role: 'user' as const, content }] },
  ...extra,
});

/** Follows `chat.runs.stream` until the run's terminal event; returns the events. */
function follow(
  client: ReturnType<typeof createChatClient>,
  runId: string,
  lastEventId?: string,
): Promise<ChatEvent[]> {
  return new Promise((resolve, reject) => {
    const events: ChatEvent[] = [];
    const subscription = client.trpc.chat.runs.stream.subscribe(
      { runId, ...(lastEventId ? { lastEventId } : {}) },
      {
        onData: ({ data }) => {
          events.push(data);
          if (data.type === 'finish' || data.type === 'error') {
            subscription.unsubscribe();
            resolve(events);
          }
        },
        onError: reject,
      },
    );
  });
}

describe.each(testBackends())('runs decoupled from connections on $name', (backend) => {
  let server: TestApp;
  const clients: Array<ReturnType<typeof createChatClient>> = [];
  const client = (transport: 'sse' | 'ws' = 'sse', apiKey = 'sk-demo') => {
    const created = createChatClient({ url: server.url, transport, apiKey });
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    server = await startTestApp(backend, { env: { DEMO_MODEL_DELAY_MS: '15', ORPHAN_TIMEOUT_SECONDS: '1' } });
  });
  afterAll(async () => {
    for (const created of clients) created.close();
    await server.close();
  });

  it('resumes a run after the last event seen, with no event lost or repeated', async () => {
    const sse = client('sse');
    const seen: ChatEvent[] = [];
    for await (const event of sse.streamCompletion(ask('resume me please now'))) {
      seen.push(event);
      if (seen.length === 4) break;
    }
    // The consumer left (and cancelled); a run started with runs.create is resumed instead.
    const { runId } = await sse.trpc.chat.runs.create.mutate(ask('resume me please now'));
    const firstPart = await new Promise<ChatEvent[]>((resolve) => {
      const events: ChatEvent[] = [];
      const subscription = sse.trpc.chat.runs.stream.subscribe(
        { runId },
        {
          onData: ({ data }) => {
            events.push(data);
            if (events.length === 5) {
              subscription.unsubscribe();
              resolve(events);
            }
          },
        },
      );
    });
    const rest = await follow(client('ws'), runId, `${runId}:${firstPart.at(-1)!.seq}`);
    const all = [...firstPart, ...rest];
    expect(all.map((event) => event.seq)).toEqual(all.map((_, index) => index));
    expect(all.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
    const text = all.flatMap((event) => (event.type === 'text-delta' ? [event.text] : [])).join('');
    expect(text).toContain('You said: "resume me please now"');
  });

  it('resumes chat.completions when the subscription comes back with lastEventId', async () => {
    const sse = client('sse');
    const { runId } = await sse.trpc.chat.runs.create.mutate(ask('second'));
    const events = await new Promise<ChatEvent[]>((resolve, reject) => {
      const collected: ChatEvent[] = [];
      const subscription = sse.trpc.chat.completions.subscribe(
        { ...ask('ignored on resume'), lastEventId: `${runId}:2` },
        {
          onData: ({ data }) => {
            collected.push(data);
            if (data.type === 'finish') {
              subscription.unsubscribe();
              resolve(collected);
            }
          },
          onError: reject,
        },
      );
    });
    expect(events[0]?.seq).toBe(3);
    expect(events.flatMap((event) => (event.type === 'text-delta' ? [event.text] : [])).join('')).not.toContain(
      'ignored',
    );
  });

  it('broadcasts one run to many followers, and any of them can cancel it at once', async () => {
    const owner = client('sse');
    const { runId } = await owner.trpc.chat.runs.create.mutate(ask('a long answer for everyone to watch'));
    const followers = [follow(client('sse'), runId), follow(client('ws'), runId), follow(client('ws'), runId)];
    await new Promise((resolve) => setTimeout(resolve, 60));
    const cancelledAt = Date.now();
    await owner.trpc.chat.runs.cancel.mutate({ runId });
    const results = await Promise.all(followers);
    expect(Date.now() - cancelledAt).toBeLessThan(200);
    for (const events of results) {
      expect(events.at(-1)).toMatchObject({ type: 'finish', finishReason: 'cancelled' });
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
    }
    const run = await eventually(() =>
      server.app.database.db.selectFrom('runs').select('status').where('id', '=', runId).executeTakeFirst(),
    );
    expect(run.status).toBe('cancelled');
  });

  it('is idempotent by meta_data.caller_sid per app', async () => {
    const sse = client('sse');
    const sid = `sid-${Math.random().toString(36).slice(2)}`;
    const first = await sse.trpc.chat.runs.create.mutate(ask('once', { meta_data: { caller_sid: sid } }));
    const again = await sse.trpc.chat.runs.create.mutate(ask('once', { meta_data: { caller_sid: sid } }));
    expect(again).toEqual({ runId: first.runId, existing: true });
    await follow(sse, first.runId);
  });

  it('stops a run nobody follows after the orphan timeout, and hides runs from other apps', async () => {
    const sse = client('sse');
    const { runId } = await sse.trpc.chat.runs.create.mutate(ask('nobody listens '.repeat(100)));
    const run = await eventually(
      () => server.app.database.db.selectFrom('runs').select('status').where('id', '=', runId).executeTakeFirst(),
      8_000,
    );
    expect(run.status).toBe('cancelled');
    const stranger = await startStranger();
    await expect(stranger.trpc.chat.runs.cancel.mutate({ runId })).rejects.toMatchObject({ data: { appCode: 1008 } });
    await expect(follow(stranger, runId)).rejects.toMatchObject({ data: { appCode: 1008 } });
  });

  async function startStranger() {
    const { createTenant } = await import('./support/tenants.ts');
    const tenant = await createTenant(server.url, 'stranger');
    return client('sse', tenant.apiKey);
  }
});
