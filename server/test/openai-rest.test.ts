import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { postJson, readSse } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

describe.each(testBackends())('OpenAI REST on $name', (backend) => {
  let server: TestApp;
  let upstream: FakeUpstream;
  let openai: OpenAI;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    server = await startTestApp(backend, {
      overrides: usingUpstream(upstream),
    });
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'sk-demo', maxRetries: 0 });
  });
  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  it('streams with the official SDK, usage in a last chunk with no choices', async () => {
    const stream = await openai.chat.completions.create({
      model: 'demo-bot',
      messages: [{ role: 'user', content: 'Hello SDK' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const chunks = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toContain('You said: "Hello SDK"');
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.total_tokens).toBeGreaterThan(0);
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks.every((chunk) => chunk.model === 'demo-bot' && chunk.object === 'chat.completion.chunk')).toBe(true);
  });

  it('answers a whole completion without streaming', async () => {
    const completion = await openai.chat.completions.create({
      model: 'demo-bot',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Parts' }] },
      ],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message.content).toContain('You said: "Parts"');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
  });

  it('lists the bots of the key as models', async () => {
    const models = [];
    for await (const model of openai.models.list()) models.push(model.id);
    expect(models).toEqual(expect.arrayContaining(['demo-bot', 'upstream-bot']));
  });

  it('passes tools to a model bot and streams its tool calls as OpenAI deltas', async () => {
    upstream.script = { chunks: [], toolCalls: [{ id: 'call_1', name: 'get_time', arguments: '{"zone":"UTC"}' }] };
    const tools = [
      { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    ];
    const stream = openai.chat.completions.stream({
      model: 'upstream-bot',
      messages: [{ role: 'user', content: 'time?' }],
      tools,
    });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(final.choices[0]?.message.tool_calls?.[0]).toMatchObject({
      id: 'call_1',
      function: { name: 'get_time', arguments: '{"zone":"UTC"}' },
    });
    expect(upstream.requests.at(-1)?.tools).toEqual(tools);
    upstream.script = {};
  });

  it('uses OpenAI error envelopes and statuses the SDK understands', async () => {
    const unknownBot = openai.chat.completions.create({
      model: 'no-such-bot',
      messages: [{ role: 'user', content: 'x' }],
    });
    await expect(unknownBot).rejects.toMatchObject({ status: 404, code: '1008', type: 'not_found_error' });
    const badKey = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await expect(badKey.models.list()).rejects.toMatchObject({
      status: 401,
      code: '1002',
      type: 'authentication_error',
    });
    const empty = openai.chat.completions.create({ model: 'demo-bot', messages: [] });
    await expect(empty).rejects.toMatchObject({ status: 400, code: '1001', param: 'messages' });
  });

  it('sends an error frame and no [DONE] when the stream fails after it started', async () => {
    upstream.script = { chunks: ['a', 'b', 'c'], dropAfter: 1 };
    const response = await postJson(
      `${server.url}/v1/chat/completions`,
      { model: 'upstream-bot', stream: true, messages: [{ role: 'user', content: 'x' }] },
      { authorization: 'Bearer sk-demo' },
    );
    const { data } = await readSse(response);
    expect(data).not.toContain('[DONE]');
    const error = JSON.parse(data.at(-1)!) as { error: Record<string, unknown> };
    expect(error.error).toMatchObject({ type: 'api_error', code: '1009' });
    upstream.script = {};
  });

  it('keeps the connection alive with SSE comments, never data frames', async () => {
    const slow = await startTestApp(backend, { env: { PING_INTERVAL_MS: '100', DEMO_MODEL_DELAY_MS: '250' } });
    try {
      const response = await postJson(
        `${slow.url}/v1/chat/completions`,
        { model: 'demo-bot', stream: true, max_tokens: 3, messages: [{ role: 'user', content: 'slow' }] },
        { authorization: 'Bearer sk-demo' },
      );
      const { raw, data } = await readSse(response);
      expect(raw).toContain(': ping\n\n');
      expect(data.every((payload) => payload === '[DONE]' || payload.startsWith('{"id"'))).toBe(true);
    } finally {
      await slow.close();
    }
  });
});
