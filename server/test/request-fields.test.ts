import { createAdminClient } from '@astron-chat/client';
import type { BotDefinitionInput } from '@astron-chat/shared';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DEMO_ADMIN_TOKEN } from '../src/config/config.ts';
import { testBackends } from './support/backends.ts';
import { FAKE_AUDIO, startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { eventually, postJson, readSse } from './support/sse.ts';
import { createTenant, type Tenant } from './support/tenants.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/** Every field of the Chat Completions API a chat bot forwards as it is, with a value OpenAI accepts. */
const FORWARDED = {
  response_format: {
    type: 'json_schema',
    json_schema: {
      name: 'weather',
      strict: true,
      schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
  presence_penalty: 0.5,
  frequency_penalty: -0.5,
  logit_bias: { '50256': -100 },
  logprobs: true,
  top_logprobs: 2,
  parallel_tool_calls: false,
  reasoning_effort: 'low',
  verbosity: 'medium',
  service_tier: 'flex',
  metadata: { customer: 'c-1' },
  store: false,
  prediction: { type: 'content', content: 'predicted' },
  prompt_cache_key: 'cache-key-1',
  safety_identifier: 'user-hash',
  web_search_options: { search_context_size: 'low' },
} as const;

const PNG_DATA_URL = `data:image/png;base64,${Buffer.from('fake png bytes').toString('base64')}`;
const PARTS = [
  { type: 'text', text: 'What is in these?' },
  { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
  { type: 'image_url', image_url: { url: PNG_DATA_URL } },
  { type: 'input_audio', input_audio: { data: Buffer.from('fake wav').toString('base64'), format: 'wav' } },
  { type: 'file', file: { file_id: 'file-abc123', filename: 'report.pdf' } },
];

describe.each(testBackends())('request fields on $name', (backend) => {
  let server: TestApp;
  let upstream: FakeUpstream;
  let tenant: Tenant;
  let openai: OpenAI;
  const lastRequest = () => upstream.requests.at(-1) ?? {};
  const auth = () => ({ authorization: `Bearer ${tenant.apiKey}` });
  const completions = (body: Record<string, unknown>) => postJson(`${server.url}/v1/chat/completions`, body, auth());
  const astron = (body: Record<string, unknown>) =>
    postJson(`${server.url}/agent/v1/chat/completions`, { uid: 'u-1', stream: false, ...body }, auth());
  const ask = (content: unknown) => [{ role: 'user', content }];
  const readRun = async (runId: string) =>
    (await (await fetch(`${server.url}/agent/v1/runs/${runId}`, { headers: auth() })).json()) as Record<string, any>;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    server = await startTestApp(backend, { overrides: usingUpstream(upstream) });
    tenant = await createTenant(server.url, 'fields');
    const admin = createAdminClient({ url: server.url, adminToken: DEMO_ADMIN_TOKEN });
    const bots: Record<string, BotDefinitionInput> = {
      relay: { kind: 'chat', model: { provider: 'upstream' }, parameters: { maxTokens: 100 } },
      limited: {
        kind: 'chat',
        model: { provider: 'upstream' },
        callerLimits: { maxTokens: 50, temperature: 0.3, forbidTools: true },
      },
      flow: {
        kind: 'workflow',
        nodes: [
          { id: 'start', type: 'start' },
          { id: 'draft', type: 'llm', model: { provider: 'upstream' }, prompt: '{{start.query}}', stream: true },
          { id: 'end', type: 'end' },
        ],
        edges: [
          { source: 'start', target: 'draft' },
          { source: 'draft', target: 'end' },
        ],
      },
      helper: {
        kind: 'agent',
        model: { provider: 'upstream' },
        tools: [{ type: 'http', name: 'lookup', url: '/tools/calculator' }],
        parameters: { temperature: 0.9 },
      },
    };
    for (const [botId, definition] of Object.entries(bots)) {
      await admin.admin.bots.create.mutate({ appId: tenant.appId, botId, definition });
    }
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: tenant.apiKey, maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await upstream?.close();
  });

  describe('/v1/chat/completions', () => {
    it('forwards every OpenAI field to a chat bot upstream exactly, and always asks for usage', async () => {
      const response = await completions({
        model: 'relay',
        messages: ask('Weather?'),
        ...FORWARDED,
        max_completion_tokens: 64,
        temperature: 0.2,
        top_p: 0.9,
        stop: ['END'],
        seed: 7,
        user: 'end-user-1',
        chat_id: 'fields-chat-1',
      });
      expect(response.status).toBe(200);
      const sent = lastRequest();
      expect(sent).toMatchObject({ ...FORWARDED, temperature: 0.2, top_p: 0.9, stop: ['END'], seed: 7 });
      expect(sent.user).toBe('end-user-1');
      expect(sent.stream_options).toEqual({ include_usage: true });
      // As itself: reasoning models refuse max_tokens, and the bot's default must not ride along.
      expect(sent.max_completion_tokens).toBe(64);
      expect(sent).not.toHaveProperty('max_tokens');
      expect(sent).not.toHaveProperty('chat_id');
    });

    it('sends max_tokens as max_tokens, and the bot default when the caller sets none', async () => {
      await completions({ model: 'relay', messages: ask('a'), max_tokens: 12 });
      expect(lastRequest()).toMatchObject({ max_tokens: 12 });
      expect(lastRequest()).not.toHaveProperty('max_completion_tokens');
      await completions({ model: 'relay', messages: ask('b') });
      expect(lastRequest()).toMatchObject({ max_tokens: 100 });
    });

    it('refuses unknown fields and fields it cannot honour with 400 naming the field', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ temprature: 0.5 }, 'temprature'],
        [{ n: 2 }, 'n'],
        // Audio out needs its format and voice, as on OpenAI.
        [{ modalities: ['text', 'audio'] }, 'audio'],
        [{ modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'ogg' } }, 'audio.format'],
        [{ functions: [{ name: 'f' }] }, 'functions'],
        [{ function_call: 'auto' }, 'function_call'],
        [{ top_logprobs: 50 }, 'top_logprobs'],
        [{ response_format: { type: 'yaml' } }, 'response_format.type'],
        [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
        [{ stream_options: { include_usage: true, extra: 1 } }, 'stream_options.extra'],
      ];
      const before = upstream.requests.length;
      for (const [fields, param] of cases) {
        const response = await completions({ model: 'relay', messages: ask('x'), ...fields });
        expect(response.status, param).toBe(400);
        const body = (await response.json()) as { error: Record<string, unknown> };
        expect(body.error, param).toMatchObject({ type: 'invalid_request_error', param, code: '1001' });
      }
      expect(upstream.requests.length).toBe(before);
      // Our one addition is accepted; so is `modalities: ['text']`.
      const ok = await completions({ model: 'relay', messages: ask('x'), chat_id: 'fields-ok', modalities: ['text'] });
      expect(ok.status).toBe(200);
    });

    it('refuses forwarded fields for workflow and agent bots, whose several model calls they would not fit', async () => {
      for (const model of ['flow', 'helper']) {
        const response = await completions({ model, messages: ask('x'), response_format: { type: 'json_object' } });
        expect(response.status).toBe(400);
        expect(((await response.json()) as { error: { param: string } }).error.param).toBe('response_format');
      }
    });

    it("returns the upstream's logprobs to the SDK, streaming and not", async () => {
      const stream = openai.chat.completions.stream({
        model: 'relay',
        messages: [{ role: 'user', content: 'hi' }],
        logprobs: true,
      });
      const final = await stream.finalChatCompletion();
      expect(final.choices[0]?.logprobs?.content?.map((entry) => entry.token).join('')).toBe('Hello from upstream');
      const whole = await openai.chat.completions.create({
        model: 'relay',
        messages: [{ role: 'user', content: 'hi' }],
        logprobs: true,
      });
      expect(whole.choices[0]?.logprobs?.content?.[0]).toMatchObject({ token: 'Hello', logprob: -0.25 });
      const plain = await openai.chat.completions.create({
        model: 'relay',
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(plain.choices[0]?.logprobs).toBeNull();
    });

    it('relays an audio answer through the official SDK: forwarded exactly, streamed as delta.audio, whole as message.audio', async () => {
      const audio = { voice: 'alloy', format: 'wav' } as const;
      const spoken = {
        id: FAKE_AUDIO.id,
        data: FAKE_AUDIO.data.join(''),
        expires_at: FAKE_AUDIO.expiresAt,
        transcript: FAKE_AUDIO.transcript.join(''),
      };
      const stream = openai.chat.completions.stream({
        model: 'relay',
        messages: [{ role: 'user', content: 'Say hello' }],
        modalities: ['text', 'audio'],
        audio,
      });
      const pieces: unknown[] = [];
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta as { audio?: unknown } | undefined;
        if (delta?.audio) pieces.push(delta.audio);
      }
      expect(lastRequest()).toMatchObject({ modalities: ['text', 'audio'], audio });
      // Piece by piece, as the upstream sent them.
      expect(pieces).toEqual([
        { id: FAKE_AUDIO.id, transcript: 'Hello' },
        { transcript: ' from' },
        { transcript: ' upstream' },
        { data: FAKE_AUDIO.data[0] },
        { data: FAKE_AUDIO.data[1] },
        { id: FAKE_AUDIO.id, expires_at: FAKE_AUDIO.expiresAt },
      ]);
      // The SDK's stream helper joins them into OpenAI's message.audio.
      const streamed = (await stream.finalChatCompletion()).choices[0];
      expect(streamed?.message.audio).toEqual(spoken);
      expect(streamed?.finish_reason).toBe('stop');

      const whole = await openai.chat.completions.create({
        model: 'relay',
        messages: [{ role: 'user', content: 'Say hello' }],
        modalities: ['text', 'audio'],
        audio,
      });
      expect(whole.choices[0]?.message).toMatchObject({ role: 'assistant', content: null, audio: spoken });
    });

    it('replays an audio answer as audio: {id} while the upstream holds it, as its transcript after', async () => {
      const chatId = `audio-${backend.name}-${Date.now()}`;
      const audio = { voice: 'alloy', format: 'wav' };
      const speak = () =>
        completions({
          model: 'relay',
          messages: ask('Say hello'),
          modalities: ['text', 'audio'],
          audio,
          chat_id: chatId,
        });
      expect((await speak()).status).toBe(200);
      await completions({ model: 'relay', messages: ask('Again?'), chat_id: chatId });
      expect((lastRequest().messages as unknown[]).slice(0, 2)).toEqual([
        { role: 'user', content: 'Say hello' },
        { role: 'assistant', audio: { id: FAKE_AUDIO.id } },
      ]);
      // History shows the answer's reference and transcript (the audio itself was the caller's to keep).
      const page = (await (
        await fetch(`${server.url}/agent/v1/chats/${chatId}/messages`, { headers: auth() })
      ).json()) as { messages: Array<Record<string, unknown>> };
      expect(page.messages[1]).toMatchObject({
        role: 'assistant',
        content: '',
        parts: [
          {
            type: 'audio',
            audio: { id: FAKE_AUDIO.id, expires_at: FAKE_AUDIO.expiresAt, transcript: 'Hello from upstream' },
          },
        ],
      });
      expect(JSON.stringify(page)).not.toContain(FAKE_AUDIO.data.join(''));

      // An answer whose audio has expired upstream goes back as its transcript.
      const otherChat = `${chatId}-expired`;
      const held = FAKE_AUDIO.expiresAt;
      FAKE_AUDIO.expiresAt = Math.floor(Date.now() / 1000) - 60;
      try {
        await completions({
          model: 'relay',
          messages: ask('Say hello'),
          modalities: ['audio'],
          audio,
          chat_id: otherChat,
        });
      } finally {
        FAKE_AUDIO.expiresAt = held;
      }
      await completions({ model: 'relay', messages: ask('Again?'), chat_id: otherChat });
      expect((lastRequest().messages as unknown[])[1]).toEqual({ role: 'assistant', content: 'Hello from upstream' });

      // A caller's own reference to an earlier audio answer goes to the upstream as it is.
      await completions({
        model: 'relay',
        messages: [
          { role: 'user', content: 'Say hello' },
          { role: 'assistant', audio: { id: 'audio_from_caller' } },
          { role: 'user', content: 'Again?' },
        ],
      });
      expect((lastRequest().messages as unknown[])[1]).toEqual({
        role: 'assistant',
        audio: { id: 'audio_from_caller' },
      });
    });

    it('refuses audio where it cannot go: workflow and agent bots, the demo model, the Astron route', async () => {
      const audio = { voice: 'alloy', format: 'wav' };
      for (const model of ['flow', 'helper']) {
        const asked = await completions({ model, messages: ask('x'), modalities: ['text', 'audio'], audio });
        expect(asked.status).toBe(400);
        expect(((await asked.json()) as { error: { param: string } }).error.param).toBe('modalities');
        const replayed = await completions({
          model,
          messages: [
            { role: 'user', content: 'x' },
            { role: 'assistant', audio: { id: 'audio_1' } },
            { role: 'user', content: 'y' },
          ],
        });
        expect(replayed.status).toBe(400);
        expect(await replayed.json()).toMatchObject({ error: { param: 'messages.1.audio', code: '1001' } });
      }
      const demo = await completions({ model: 'helper-bot', messages: ask('x'), modalities: ['audio'], audio });
      expect(demo.status).toBe(400);
      expect(await demo.json()).toMatchObject({
        error: {
          code: '1001',
          message: expect.stringContaining('modalities: the built-in demo model answers in text only'),
        },
      });
      for (const field of ['modalities', 'audio']) {
        const refused = await astron({
          bot_id: 'relay',
          parameters: { messages: ask('x'), [field]: field === 'audio' ? audio : ['audio'] },
        });
        expect(refused.status).toBe(400);
        expect(await refused.json()).toMatchObject({ code: 1001, param: `parameters.${field}` });
      }
    });

    it('JSON mode and structured outputs work through the official SDK', async () => {
      const json = await openai.chat.completions.create({
        model: 'relay',
        messages: [{ role: 'user', content: 'Answer in JSON' }],
        response_format: { type: 'json_object' },
      });
      expect(JSON.parse(json.choices[0]?.message.content ?? '')).toEqual({ answer: 'Hello from upstream' });
      expect(lastRequest().response_format).toEqual({ type: 'json_object' });

      const Weather = z.object({ city: z.string(), celsius: z.number(), sunny: z.boolean() });
      const parsed = await openai.chat.completions.parse({
        model: 'relay',
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        response_format: zodResponseFormat(Weather, 'weather'),
      });
      expect(parsed.choices[0]?.message.parsed).toEqual({ city: 'fake', celsius: 42, sunny: true });
      // The demo model answers in the asked shape too (its strings hold its usual answer).
      const demo = await openai.chat.completions.parse({
        model: 'helper-bot',
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        response_format: zodResponseFormat(Weather, 'weather'),
      });
      expect(demo.choices[0]?.message.parsed).toMatchObject({ celsius: 42, sunny: true });
      expect(demo.choices[0]?.message.parsed?.city).toContain('You said: "Weather in Paris?"');
      expect(lastRequest().response_format).toMatchObject({
        type: 'json_schema',
        json_schema: {
          name: 'weather',
          strict: true,
          schema: { type: 'object', required: ['city', 'celsius', 'sunny'] },
        },
      });
    });
  });

  describe('the Astron route', () => {
    it('forwards top_k and repetition_penalty, and at most 4 stop_sequences', async () => {
      const response = await astron({
        bot_id: 'relay',
        parameters: {
          messages: ask('x'),
          top_k: 20,
          repetition_penalty: 1.1,
          stop_sequences: ['a', 'b', 'c', 'd'],
          temperature: 0.4,
          top_p: 0.8,
          seed: 3,
          max_tokens: 30,
        },
      });
      expect(response.status).toBe(200);
      expect(lastRequest()).toMatchObject({
        top_k: 20,
        repetition_penalty: 1.1,
        stop: ['a', 'b', 'c', 'd'],
        temperature: 0.4,
        top_p: 0.8,
        seed: 3,
        max_tokens: 30,
      });
      const tooMany = await astron({
        bot_id: 'relay',
        parameters: { messages: ask('x'), stop_sequences: ['a', 'b', 'c', 'd', 'e'] },
      });
      expect(tooMany.status).toBe(400);
      expect(await tooMany.json()).toMatchObject({ code: 1001, param: 'parameters.stop_sequences' });
    });
  });

  describe('caller parameters and tools on workflow and agent bots', () => {
    it("reach a workflow's llm node: temperature, max_tokens, top_p, stop, seed", async () => {
      for (const send of [
        () =>
          completions({
            model: 'flow',
            messages: ask('q'),
            temperature: 0.1,
            max_tokens: 9,
            top_p: 0.5,
            stop: 'X',
            seed: 1,
          }),
        () =>
          astron({
            bot_id: 'flow',
            parameters: {
              messages: ask('q'),
              temperature: 0.1,
              max_tokens: 9,
              top_p: 0.5,
              stop_sequences: ['X'],
              seed: 1,
            },
          }),
      ]) {
        expect((await send()).status).toBe(200);
        expect(lastRequest()).toMatchObject({ temperature: 0.1, max_tokens: 9, top_p: 0.5, stop: ['X'], seed: 1 });
      }
    });

    it("reach an agent over its own parameters; a call to the caller's tool goes back to the caller", async () => {
      upstream.queue.push({
        chunks: [],
        toolCalls: [{ id: 'call_w', name: 'get_weather', arguments: '{"city":"Oslo"}' }],
      });
      const weather = {
        type: 'function' as const,
        function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      };
      const completion = await openai.chat.completions.create({
        model: 'helper',
        messages: [{ role: 'user', content: 'Weather in Oslo?' }],
        tools: [weather],
        temperature: 0.2,
      });
      const sent = lastRequest();
      expect(sent.temperature).toBe(0.2);
      expect((sent.tools as Array<{ function: { name: string } }>).map((tool) => tool.function.name)).toEqual([
        'lookup',
        'get_weather',
      ]);
      expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
      expect(completion.choices[0]?.message.tool_calls?.[0]).toMatchObject({
        id: 'call_w',
        function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
      });
      // A caller tool may not shadow one the bot runs itself.
      const clash = await completions({
        model: 'helper',
        messages: ask('x'),
        tools: [{ type: 'function', function: { name: 'lookup' } }],
      });
      expect(clash.status).toBe(400);
      expect(((await clash.json()) as { error: { param: string } }).error.param).toBe('tools.0.function.name');
    });

    it("keep within a bot's callerLimits: max tokens capped, temperature pinned, tools forbidden", async () => {
      await completions({ model: 'limited', messages: ask('x'), max_completion_tokens: 5000 });
      expect(lastRequest()).toMatchObject({ max_completion_tokens: 50, temperature: 0.3 });
      await completions({ model: 'limited', messages: ask('x') });
      expect(lastRequest()).toMatchObject({ max_tokens: 50, temperature: 0.3 });
      await completions({ model: 'limited', messages: ask('x'), max_tokens: 20, temperature: 0.3 });
      expect(lastRequest()).toMatchObject({ max_tokens: 20 });

      const hot = await completions({ model: 'limited', messages: ask('x'), temperature: 1.5 });
      expect(hot.status).toBe(400);
      expect(((await hot.json()) as { error: { param: string } }).error.param).toBe('temperature');
      const tools = await astron({ bot_id: 'limited', parameters: { messages: ask('x') } });
      expect(tools.status).toBe(200);
      const withTools = await completions({
        model: 'limited',
        messages: ask('x'),
        tools: [{ type: 'function', function: { name: 'mine' } }],
      });
      expect(withTools.status).toBe(400);
      expect(((await withTools.json()) as { error: { param: string } }).error.param).toBe('tools');
    });

    it('refuses a bot whose own parameters break its callerLimits, at the exact path', async () => {
      const admin = createAdminClient({ url: server.url, adminToken: DEMO_ADMIN_TOKEN });
      await expect(
        admin.admin.bots.create.mutate({
          appId: tenant.appId,
          botId: 'broken-limits',
          definition: {
            kind: 'chat',
            model: { provider: 'demo' },
            parameters: { maxTokens: 500 },
            callerLimits: { maxTokens: 100 },
          },
        }),
      ).rejects.toMatchObject({ message: expect.stringContaining('parameters.maxTokens') });
    });
  });

  describe('multimodal content parts', () => {
    it('/v1 passes image_url, input_audio and file parts to the upstream and keeps them in history', async () => {
      const chatId = `mm-${backend.name}-${Date.now()}`;
      const first = await completions({ model: 'relay', messages: ask(PARTS), chat_id: chatId });
      expect(first.status).toBe(200);
      const sent = lastRequest().messages as Array<{ role: string; content: unknown }>;
      expect(sent.at(-1)).toEqual({ role: 'user', content: PARTS });

      await completions({ model: 'relay', messages: ask('And now?'), chat_id: chatId });
      const replayed = lastRequest().messages as Array<{ role: string; content: unknown }>;
      expect(replayed[0]).toEqual({ role: 'user', content: PARTS });

      const page = (await (
        await fetch(`${server.url}/agent/v1/chats/${chatId}/messages`, { headers: auth() })
      ).json()) as { messages: Array<Record<string, unknown>> };
      expect(page.messages[0]).toMatchObject({ role: 'user', content: 'What is in these?', parts: PARTS });
    });

    it('the Astron route takes the same parts in messages', async () => {
      const response = await astron({ bot_id: 'relay', parameters: { messages: ask(PARTS) } });
      expect(response.status).toBe(200);
      expect((lastRequest().messages as unknown[]).at(-1)).toEqual({ role: 'user', content: PARTS });
    });

    it("a workflow llm node whose prompt quotes the question takes the question's media along", async () => {
      const response = await completions({ model: 'flow', messages: ask(PARTS) });
      expect(response.status).toBe(200);
      expect((lastRequest().messages as unknown[]).at(-1)).toEqual({ role: 'user', content: PARTS });
    });

    it('the demo model names the parts it cannot see', async () => {
      const response = await astron({ bot_id: 'helper-bot', parameters: { messages: ask(PARTS) } });
      const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
      expect(body.choices[0]?.message.content).toContain(
        'You said: "What is in these? [image] [image] [wav audio] [file report.pdf]"',
      );
    });

    it('refuses inline data over the per-part limit with 1011, and bad parts with 400', async () => {
      const big = `data:image/png;base64,${'A'.repeat(600 * 1024)}`;
      const response = await completions({
        model: 'relay',
        messages: ask([
          { type: 'text', text: 'see' },
          { type: 'image_url', image_url: { url: big } },
        ]),
      });
      expect(response.status).toBe(413);
      expect(((await response.json()) as { error: Record<string, unknown> }).error).toMatchObject({
        code: '1011',
        param: 'messages.0.content.1',
      });
      const bad = await completions({
        model: 'relay',
        messages: ask([{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }]),
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { param: string } }).error.param).toBe(
        'messages.0.content.0.image_url.url',
      );
    });
  });

  describe('usage you can bill', () => {
    it('estimates usage with a tokenizer when the upstream sends none, and flags it on the run and the usage read', async () => {
      upstream.queue.push({ noUsage: true, chunks: ['Four', ' score', ' and', ' seven', ' years'] });
      const response = await astron({ bot_id: 'relay', parameters: { messages: ask('Say the first words') } });
      const body = (await response.json()) as { id: string; usage: Record<string, number> };
      expect(lastRequest().stream_options).toEqual({ include_usage: true });
      // cl100k_base: "Four score and seven years" is 5 tokens; the prompt is 3 + 3 per message + its text.
      expect(body.usage.completion_tokens).toBe(5);
      expect(body.usage.prompt_tokens).toBeGreaterThan(6);
      const run = await eventually(async () => {
        const read = await readRun(body.id);
        return read.status === 'succeeded' ? read : undefined;
      });
      expect(run.usage).toMatchObject({ completionTokens: 5, estimated: true });

      const usage = (await (await fetch(`${server.url}/agent/v1/usage`, { headers: auth() })).json()) as {
        days: Array<Record<string, unknown>>;
      };
      expect(usage.days.find((day) => day.bot_id === 'relay')).toMatchObject({ estimated: true, estimated_runs: 1 });
    });

    it('keeps cached prompt tokens and sums them apart', async () => {
      upstream.queue.push({ cachedTokens: 4 });
      const completion = await openai.chat.completions.create({
        model: 'relay',
        messages: [{ role: 'user', content: 'cached?' }],
      });
      expect(completion.usage?.prompt_tokens_details?.cached_tokens).toBe(4);
      const run = await eventually(async () => {
        const read = await readRun(completion.id.replace(/^chatcmpl-/, ''));
        return read.status === 'succeeded' ? read : undefined;
      });
      expect(run.usage).toMatchObject({ promptTokens: 5, cachedPromptTokens: 4, estimated: false });
      const usage = (await (await fetch(`${server.url}/agent/v1/usage`, { headers: auth() })).json()) as {
        days: Array<{ bot_id: string; cached_tokens: number }>;
      };
      expect(usage.days.find((day) => day.bot_id === 'relay')?.cached_tokens).toBeGreaterThanOrEqual(4);
    });

    it.each(['relay', 'flow'])('records the usage streamed up to a cancel (%s)', async (model) => {
      upstream.queue.push({ noUsage: true, delayMs: 60, chunks: ['one', ' two', ' three', ' four', ' five', ' six'] });
      const controller = new AbortController();
      const response = await postJson(
        `${server.url}/v1/chat/completions`,
        { model, stream: true, messages: ask('count') },
        auth(),
        controller.signal,
      );
      const reader = response.body!.getReader();
      let text = '';
      let runId = '';
      while (!text.includes(' two')) {
        const { value } = await reader.read();
        const chunk = new TextDecoder().decode(value);
        runId ||= /"id":"chatcmpl-([^"]+)"/.exec(chunk)?.[1] ?? '';
        text += [...chunk.matchAll(/"content":"([^"]*)"/g)].map((match) => match[1]).join('');
      }
      controller.abort();
      const run = await eventually(async () => {
        const read = await readRun(runId);
        return read.status === 'cancelled' ? read : undefined;
      });
      expect(run.usage.completionTokens).toBeGreaterThanOrEqual(2);
      expect(run.usage.promptTokens).toBeGreaterThan(0);
      expect(run.usage.estimated).toBe(true);
    });
  });

  it('SSE streams still end normally with every field in play', async () => {
    const response = await completions({
      model: 'relay',
      stream: true,
      messages: ask('x'),
      logprobs: true,
      top_logprobs: 1,
    });
    const { data } = await readSse(response);
    expect(data.at(-1)).toBe('[DONE]');
  });
});
