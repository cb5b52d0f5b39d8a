import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { eventually, postJson, readSse } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const question = (content: string, extra: Record<string, unknown> = {}) => ({
  bot_id: 'demo-bot',
  uid: 'user-1',
  stream: true,
  parameters: { messages: [{ role: 'user', content }] },
  ...extra,
});

describe.each(testBackends())('Astron REST on $name', (backend) => {
  let server: TestApp;
  let upstream: FakeUpstream;
  const endpoint = () => `${server.url}/agent/v1/chat/completions`;

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

  it('streams SSE frames in the seed format, byte for byte', async () => {
    const response = await postJson(endpoint(), question('Hello there'), { x_consumer_username: 'demo-app' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('x-accel-buffering')).toBe('no');

    const { raw, data } = await readSse(response);
    expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(raw).toMatch(/^data: \{"id":"run_/);
    const frames = data.slice(0, -1).map((payload) => JSON.parse(payload) as Record<string, any>);
    for (const frame of frames) {
      expect(frame).toMatchObject({ object: 'chat.completion.chunk', code: 0, message: 'success' });
      expect(frame.id).toBe(frames[0]?.id);
    }
    expect(frames[0]?.choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const text = frames.map((frame) => frame.choices[0].delta.content ?? '').join('');
    expect(text).toContain('You said: "Hello there"');
    const last = frames.at(-1)!;
    expect(last.choices[0].finish_reason).toBe('stop');
    expect(last.usage.total_tokens).toBeGreaterThan(0);
    expect(last.usage.total_tokens).toBe(last.usage.prompt_tokens + last.usage.completion_tokens);
  });

  it('answers one JSON completion when stream is false, with both header spellings', async () => {
    for (const header of ['x-consumer-username', 'x_consumer_username']) {
      const response = await postJson(endpoint(), question('Once', { stream: false }), { [header]: 'demo-app' });
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, any>;
      expect(body).toMatchObject({ object: 'chat.completion', code: 0, message: 'success' });
      expect(body.choices[0].message.role).toBe('assistant');
      expect(body.choices[0].message.content).toContain('You said: "Once"');
      expect(body.choices[0].finish_reason).toBe('stop');
    }
  });

  it('streams reasoning_content before the answer', async () => {
    const response = await postJson(endpoint(), question('please think first'), { authorization: 'Bearer sk-demo' });
    const frames = (await readSse(response)).data
      .slice(0, -1)
      .map((payload) => JSON.parse(payload) as Record<string, any>);
    const firstReasoning = frames.findIndex((frame) => frame.choices[0].delta.reasoning_content);
    const firstContent = frames.findIndex((frame) => frame.choices[0].delta.content);
    expect(firstReasoning).toBeGreaterThan(0);
    expect(firstContent).toBeGreaterThan(firstReasoning);
  });

  it('relays an OpenAI-compatible upstream, reasoning and usage included', async () => {
    upstream.script = { chunks: ['Up', 'stream', ' says hi'], reasoning: ['hmm'] };
    const response = await postJson(
      endpoint(),
      { ...question('hi'), bot_id: 'upstream-bot' },
      { authorization: 'Bearer sk-demo' },
    );
    const frames = (await readSse(response)).data
      .slice(0, -1)
      .map((payload) => JSON.parse(payload) as Record<string, any>);
    expect(frames.map((frame) => frame.choices[0].delta.content ?? '').join('')).toBe('Upstream says hi');
    expect(frames.map((frame) => frame.choices[0].delta.reasoning_content ?? '').join('')).toBe('hmm');
    expect(frames.at(-1)!.usage).toEqual({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    expect(frames.at(-1)!.model).toBe('fake-model');
    const sent = upstream.requests.at(-1)!;
    expect(sent).toMatchObject({ model: 'fake-model', stream: true });
  });

  it('ends with a non-zero code in the last frame when the upstream fails mid-stream, keeping the partial answer', async () => {
    upstream.script = { chunks: ['partial', ' more'], garbage: '{not json' };
    const response = await postJson(
      endpoint(),
      { ...question('hi'), bot_id: 'upstream-bot' },
      { authorization: 'Bearer sk-demo' },
    );
    expect(response.status).toBe(200);
    const { data } = await readSse(response);
    expect(data.at(-1)).toBe('[DONE]');
    const frames = data.slice(0, -1).map((payload) => JSON.parse(payload) as Record<string, any>);
    expect(frames.some((frame) => frame.choices[0].delta.content === 'partial')).toBe(true);
    const last = frames.at(-1)!;
    expect(last.code).toBe(1009);
    expect(last.message).toMatch(/not JSON/);
    expect(last.choices[0].finish_reason).not.toBeNull();
    const run = await eventually(() =>
      server.app.database.db.selectFrom('runs').selectAll().where('id', '=', String(last.id)).executeTakeFirst(),
    );
    expect(run).toMatchObject({ status: 'failed', error_code: 1009 });
  });

  it('answers an upstream HTTP error before the stream with 502 and code 1009', async () => {
    upstream.script = { status: 500 };
    const response = await postJson(
      endpoint(),
      { ...question('hi'), bot_id: 'upstream-bot', stream: false },
      { authorization: 'Bearer sk-demo' },
    );
    expect(response.status).toBe(502);
    const body = (await response.json()) as Record<string, any>;
    expect(body.code).toBe(1009);
    expect(body.message).toContain('HTTP 500');
    upstream.script = {};
  });

  it('records one run with usage and time to first token', async () => {
    const response = await postJson(
      endpoint(),
      question('record me', { meta_data: { caller: 'test', caller_sid: 'sid-1' } }),
      {
        authorization: 'Bearer sk-demo',
      },
    );
    const first = JSON.parse((await readSse(response)).data[0]!) as { id: string };
    const run = await eventually(() =>
      server.app.database.db.selectFrom('runs').selectAll().where('id', '=', first.id).executeTakeFirst(),
    );
    expect(run).toMatchObject({
      status: 'succeeded',
      finish_reason: 'stop',
      app_id: 'demo-app',
      bot_id: 'demo-bot',
      transport: 'astron',
      caller: 'test',
      caller_sid: 'sid-1',
    });
    expect(Number(run.total_tokens)).toBeGreaterThan(0);
    expect(run.time_to_first_token_ms).not.toBeNull();
    expect(run.duration_ms).not.toBeNull();
  });

  it('remembers a conversation by chat_id', async () => {
    const chatId = `chat-${Math.random().toString(36).slice(2)}`;
    await (
      await postJson(endpoint(), question('first', { chat_id: chatId, stream: false }), {
        authorization: 'Bearer sk-demo',
      })
    ).json();
    const second = (await (
      await postJson(endpoint(), question('second', { chat_id: chatId, stream: false }), {
        authorization: 'Bearer sk-demo',
      })
    ).json()) as Record<string, any>;
    expect(second.choices[0].message.content).toContain('turn 2');
    const stored = await server.app.database.db
      .selectFrom('messages')
      .select(['role', 'content'])
      .where('chat_id', '=', chatId)
      .orderBy('id')
      .execute();
    expect(stored.map((message) => message.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
  });
});
