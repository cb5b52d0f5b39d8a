import { createChatClient, type ChatEvent } from '@astron-chat/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type * as MemoryRunLog from '../src/run-log/memory-run-log.ts';
import type * as RedisRunLog from '../src/run-log/redis-run-log.ts';
import { oneRun, type RunLog } from '../src/run-log/run-log.ts';
import { testBackends } from './support/backends.ts';
import { eventually } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/** The run logs the apps under test open: a test plays, in them, an instance that died mid-run. */
const { runLogs, capturing } = vi.hoisted(() => {
  const runLogs: RunLog[] = [];
  const capturing =
    <Options extends unknown[]>(create: (...options: Options) => RunLog) =>
    (...options: Options) => {
      const log = create(...options);
      runLogs.push(log);
      return log;
    };
  return { runLogs, capturing };
});
vi.mock('../src/run-log/memory-run-log.ts', async (importOriginal) => {
  const original = await importOriginal<typeof MemoryRunLog>();
  return { createMemoryRunLog: capturing(original.createMemoryRunLog) };
});
vi.mock('../src/run-log/redis-run-log.ts', async (importOriginal) => {
  const original = await importOriginal<typeof RedisRunLog>();
  return { createRedisRunLog: capturing(original.createRedisRunLog) };
});

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
  let runLog: RunLog;
  const clients: Array<ReturnType<typeof createChatClient>> = [];
  const client = (transport: 'sse' | 'ws' = 'sse', apiKey = 'sk-demo') => {
    const created = createChatClient({ url: server.url, transport, apiKey });
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    server = await startTestApp(backend, { env: { DEMO_MODEL_DELAY_MS: '15', ORPHAN_TIMEOUT_SECONDS: '1' } });
    runLog = runLogs.at(-1)!;
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
      server.app.database.db
        .selectFrom('runs')
        .select('status')
        .where('id', '=', runId)
        .where('status', '!=', 'running')
        .executeTakeFirst(),
    );
    expect(run.status).toBe('cancelled');
  });

  it('a REST run is a run like any other: outlives the orphan timeout while read, followed and cancelled elsewhere', async () => {
    const response = await fetch(`${server.url}/agent/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-demo', 'content-type': 'application/json' },
      body: JSON.stringify({ ...ask('a long REST answer to follow and stop '.repeat(20)), stream: true }),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('\n\n')) text += (await reader.read()).value ?? '';
    const runId = (JSON.parse(text.slice('data: '.length, text.indexOf('\n\n'))) as { id: string }).id;
    // Past the orphan timeout (1 s): the REST caller reading it is its follower.
    const readUntil = Date.now() + 1_500;
    while (Date.now() < readUntil) text += (await reader.read()).value ?? '';
    expect(text).not.toContain('[DONE]');

    const follower = follow(client('ws'), runId);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const cancelledAt = Date.now();
    await client('sse').trpc.chat.runs.cancel.mutate({ runId });
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
    expect(Date.now() - cancelledAt).toBeLessThan(1_000);
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const events = await follower;
    expect(events[0]).toMatchObject({ type: 'run-start', seq: 0, runId });
    expect(events.at(-1)).toMatchObject({ type: 'finish', finishReason: 'cancelled' });
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
    const run = await eventually(() =>
      server.app.database.db
        .selectFrom('runs')
        .select(['status', 'transport'])
        .where('id', '=', runId)
        .executeTakeFirst(),
    );
    expect(run).toEqual({ status: 'cancelled', transport: 'astron' });
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
      () =>
        server.app.database.db
          .selectFrom('runs')
          .select('status')
          .where('id', '=', runId)
          .where('status', '!=', 'running')
          .executeTakeFirst(),
      8_000,
    );
    expect(run.status).toBe('cancelled');
    const stranger = await startStranger();
    await expect(stranger.trpc.chat.runs.cancel.mutate({ runId })).rejects.toMatchObject({ data: { appCode: 1008 } });
    await expect(follow(stranger, runId)).rejects.toMatchObject({ data: { appCode: 1008 } });
  });

  it('records a run lost with its instance as failed, with the answer so far, once', async () => {
    const sse = client('sse');
    // The header a real run's instance keeps in the run log...
    const started = await sse.trpc.chat.runs.create.mutate(ask('a run to copy the header of'));
    await follow(sse, started.runId);
    const header = (await runLog.owner(started.runId))!;
    // ...for a run whose instance logged three events and died: it never beats as the owner again.
    const runId = `run_lost${Math.random().toString(36).slice(2)}`;
    const chatId = `chat-lost-${Math.random().toString(36).slice(2)}`;
    const run = { ...header, runId, chatId, createdAt: Date.now(), question: 'who stopped?' };
    await runLog.open(runId, run);
    await runLog.append(
      oneRun(runId, [
        { type: 'run-start', seq: 0, runId, chatId, botId: run.botId, model: run.model, created: 0 },
        { type: 'text-delta', seq: 1, text: 'half of ' },
        { type: 'text-delta', seq: 2, text: 'an answer' },
      ]),
    );

    const followers = await Promise.all([follow(sse, runId), follow(client('ws'), runId, `${runId}:1`)]);
    for (const events of followers) {
      expect(events.at(-1)).toMatchObject({ type: 'error', seq: 3, code: 1006, retryable: true });
    }
    // Recorded before the terminal event was logged: readable as soon as a follower sees the end.
    expect(await sse.trpc.chat.runs.get.query({ runId })).toMatchObject({
      runId,
      botId: run.botId,
      botVersion: run.botVersion,
      chatId,
      status: 'failed',
      finishReason: null,
      error: { code: 1006, message: expect.stringMatching(/instance running this run stopped/) },
    });
    const response = await fetch(`${server.url}/agent/v1/chats/${chatId}/messages`, {
      headers: { authorization: 'Bearer sk-demo' },
    });
    // Written once, though two followers noticed: one question, one partial answer.
    expect(((await response.json()) as { messages: unknown[] }).messages).toMatchObject([
      { role: 'user', content: 'who stopped?', run_id: runId },
      { role: 'assistant', content: 'half of an answer', status: 'partial', run_id: runId },
    ]);
  });

  async function startStranger() {
    const { createTenant } = await import('./support/tenants.ts');
    const tenant = await createTenant(server.url, 'stranger');
    return client('sse', tenant.apiKey);
  }
});

describe.each(testBackends())('a dead owner with a long orphan timeout on $name', (backend) => {
  it('is noticed by its followers within seconds, not after ORPHAN_TIMEOUT_SECONDS', async () => {
    const server = await startTestApp(backend, { env: { ORPHAN_TIMEOUT_SECONDS: '60' } });
    const runLog = runLogs.at(-1)!;
    const sse = createChatClient({ url: server.url, transport: 'sse', apiKey: 'sk-demo' });
    try {
      const started = await sse.trpc.chat.runs.create.mutate(ask('a run to copy the header of'));
      await follow(sse, started.runId);
      const header = (await runLog.owner(started.runId))!;
      // An instance that opened a run, logged its start and died: it never beats as the owner.
      const runId = `run_dead${Math.random().toString(36).slice(2)}`;
      await runLog.open(runId, { ...header, runId, createdAt: Date.now() });
      await runLog.append(
        oneRun(runId, [
          { type: 'run-start', seq: 0, runId, chatId: null, botId: header.botId, model: header.model, created: 0 },
        ]),
      );
      const startedAt = Date.now();
      const events = await follow(sse, runId);
      expect(events.at(-1)).toMatchObject({ type: 'error', code: 1006, retryable: true });
      // The owner's beat lapses after three missed seconds at most; the orphan timeout is 60 s.
      expect(Date.now() - startedAt).toBeLessThan(8_000);
    } finally {
      sse.close();
      await server.close();
    }
  });
});
