import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signWebSocketRequest } from '../src/auth/authenticator.ts';
import { createAppRepository } from '../src/store/app.repository.ts';
import { createBotRepository } from '../src/store/bot.repository.ts';
import { testBackends } from './support/backends.ts';
import { postJson } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const valid = { bot_id: 'demo-bot', uid: 'u', parameters: { messages: [{ role: 'user', content: 'hi' }] } };
const demoKey = { authorization: 'Bearer sk-demo' };

describe.each(testBackends())('bad input on $name', (backend) => {
  let server: TestApp;
  let otherKey: string;

  beforeAll(async () => {
    server = await startTestApp(backend, { env: { MAX_BODY_BYTES: '4096' } });
    // A second app with a bot of its own: its key must never reach demo-app's bots.
    const suffix = Math.random().toString(36).slice(2, 10);
    const apps = createAppRepository(server.app.database.db);
    await apps.createApp({ id: `other-${suffix}`, name: 'Other' });
    otherKey = (await apps.createApiKey({ appId: `other-${suffix}`, name: 'k' })).key;
    await createBotRepository(server.app.database.db).saveBot({
      appId: `other-${suffix}`,
      botId: 'private-bot',
      name: 'Private',
      definition: { kind: 'chat', model: { provider: 'demo' } },
    });
  });
  afterAll(async () => {
    await server.close();
  });

  const astron = (body: unknown, headers: Record<string, string> = demoKey) =>
    postJson(`${server.url}/agent/v1/chat/completions`, body, headers);
  const openai = (body: unknown, headers: Record<string, string> = demoKey) =>
    postJson(`${server.url}/v1/chat/completions`, body, headers);

  it.each([
    ['missing bot_id', { ...valid, bot_id: undefined }, 400, 1001, /bot_id/],
    ['wrong-typed uid', { ...valid, uid: 42 }, 400, 1001, /uid: .*expected string/],
    [
      'empty messages',
      { ...valid, parameters: { messages: [] } },
      400,
      1001,
      /parameters\.messages: must contain at least one message/,
    ],
    [
      'a bad role',
      { ...valid, parameters: { messages: [{ role: 'robot', content: 'x' }] } },
      400,
      1001,
      /parameters\.messages\.0\.role/,
    ],
    [
      'the question not last',
      {
        ...valid,
        parameters: {
          messages: [
            { role: 'user', content: 'a' },
            { role: 'assistant', content: 'b' },
          ],
        },
      },
      400,
      1001,
      /parameters\.messages\.1: the last message must have role "user"/,
    ],
    [
      'a late system message',
      {
        ...valid,
        parameters: {
          messages: [
            { role: 'user', content: 'a' },
            { role: 'system', content: 'b' },
            { role: 'user', content: 'c' },
          ],
        },
      },
      400,
      1001,
      /system messages must come before/,
    ],
    [
      'an out-of-range temperature',
      { ...valid, parameters: { ...valid.parameters, temperature: 9 } },
      400,
      1001,
      /parameters\.temperature/,
    ],
    ['an unknown bot', { ...valid, bot_id: 'nope' }, 404, 1008, /Bot "nope" was not found/],
    ['invalid JSON', '{"bot_id":', 400, 1001, /not valid JSON/],
    ['an empty body', '', 400, 1001, /empty/],
    [
      'a body over the limit',
      { ...valid, parameters: { messages: [{ role: 'user', content: 'x'.repeat(5000) }] } },
      413,
      1011,
      /limit of 4096 bytes/,
    ],
  ])('Astron REST refuses %s', async (_name, body, status, code, message) => {
    const response = await astron(body);
    expect(response.status).toBe(status);
    const answer = (await response.json()) as { code: number; message: string };
    expect(answer.code).toBe(code);
    expect(answer.message).toMatch(message);
    expect(JSON.stringify(answer)).not.toMatch(/at .*\.ts:\d+/);
  });

  it.each([
    ['no credentials', {}, 401, 1002, /Missing credentials/],
    ['a wrong API key', { authorization: 'Bearer sk-nope' }, 401, 1002, /API key is not valid/],
    ['a consumer header naming an unknown app', { 'x-consumer-username': 'ghost-app' }, 401, 1002, /unknown app/],
    [
      'a key and a consumer header of different apps',
      { ...demoKey, x_consumer_username: 'someone-else' },
      403,
      1007,
      /another app/,
    ],
  ])('Astron REST refuses %s', async (_name, headers, status, code, message) => {
    const response = await astron(valid, headers);
    expect(response.status).toBe(status);
    const answer = (await response.json()) as { code: number; message: string };
    expect(answer).toMatchObject({ code });
    expect(answer.message).toMatch(message);
  });

  it("another app's key cannot use or see demo-app's bots, and demo-app cannot use its bot", async () => {
    const response = await astron(valid, { authorization: `Bearer ${otherKey}` });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { code: number }).code).toBe(1008);
    const models = (await (
      await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${otherKey}` } })
    ).json()) as {
      data: Array<{ id: string }>;
    };
    expect(models.data.map((model) => model.id)).toEqual(['private-bot']);
    const reverse = await astron({ ...valid, bot_id: 'private-bot' });
    expect(reverse.status).toBe(404);
  });

  it.each([
    ['no model', { messages: [{ role: 'user', content: 'x' }] }, 400, 'model'],
    [
      'an assistant message last',
      {
        model: 'demo-bot',
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: 'y' },
        ],
      },
      400,
      'messages.1.role',
    ],
    ['n greater than 1', { model: 'demo-bot', n: 2, messages: [{ role: 'user', content: 'x' }] }, 400, 'n'],
  ])('OpenAI REST refuses %s with an OpenAI error envelope', async (_name, body, status, param) => {
    const response = await openai(body);
    expect(response.status).toBe(status);
    const answer = (await response.json()) as { error: Record<string, unknown> };
    expect(answer.error).toMatchObject({ type: 'invalid_request_error', code: '1001', param });
    expect(String(answer.error.message)).toContain(param);
  });

  it('answers unknown routes with 404 in the caller format', async () => {
    const response = await fetch(`${server.url}/v1/nothing`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('1008');
  });

  const openSocket = (query: string) =>
    new Promise<{ status: number; body: string } | 'open'>((resolve) => {
      const socket = new WebSocket(`${server.wsUrl}/agent/v1/ws?${query}`);
      socket.on('open', () => {
        socket.close();
        resolve('open');
      });
      socket.on('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
    });

  it.each([
    ['missing parameters', () => 'appid=demo-app', /Missing query parameter\(s\): ts, signa/],
    ['a wrong signature', () => `appid=demo-app&ts=${now()}&signa=${encodeURIComponent('AAAA')}`, /does not match/],
    [
      'a stale ts',
      () => {
        const ts = String(now() - 3600);
        return `appid=demo-app&ts=${ts}&signa=${encodeURIComponent(signWebSocketRequest({ appid: 'demo-app', ts, secret: 'demo-secret' }))}`;
      },
      /outside the accepted window/,
    ],
    [
      'a stale ts in milliseconds',
      () => {
        const ts = String(Date.now() - 3_600_000);
        return `appid=demo-app&ts=${ts}&signa=${encodeURIComponent(signWebSocketRequest({ appid: 'demo-app', ts, secret: 'demo-secret' }))}`;
      },
      /outside the accepted window/,
    ],
    [
      'a signature made with another secret',
      () => {
        const ts = String(now());
        return `appid=demo-app&ts=${ts}&signa=${encodeURIComponent(signWebSocketRequest({ appid: 'demo-app', ts, secret: 'guess' }))}`;
      },
      /does not match/,
    ],
  ])('plain WebSocket refuses %s with 401', async (_name, query, message) => {
    const result = await openSocket(query());
    expect(result).not.toBe('open');
    const { status, body } = result as { status: number; body: string };
    expect(status).toBe(401);
    expect(JSON.parse(body)).toMatchObject({ code: 1002, message: expect.stringMatching(message) });
  });

  it('plain WebSocket: one signature opens several sockets; bad messages get a coded error frame and the socket stays usable', async () => {
    const ts = String(now());
    const query = `appid=demo-app&ts=${ts}&signa=${encodeURIComponent(signWebSocketRequest({ appid: 'demo-app', ts, secret: 'demo-secret' }))}`;
    expect(await openSocket(query)).toBe('open');
    const socket = new WebSocket(`${server.wsUrl}/agent/v1/ws?${query}`);
    const frames: Array<Record<string, any>> = [];
    socket.on('message', (data) => frames.push(JSON.parse((data as Buffer).toString()) as Record<string, any>));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send('not json');
    socket.send(JSON.stringify({ request_id: 'bad', bot_id: 'demo-bot', uid: 'u', parameters: { messages: [] } }));
    socket.send(
      JSON.stringify({
        request_id: 'lost',
        bot_id: 'nope',
        uid: 'u',
        parameters: { messages: [{ role: 'user', content: 'x' }] },
      }),
    );
    socket.send(JSON.stringify({ request_id: 'ok', ...valid }));
    await waitFor(() => frames.some((frame) => frame.request_id === 'ok' && frame.choices?.[0]?.finish_reason));
    socket.close();
    expect(frames[0]).toMatchObject({ code: 1001, message: 'Messages must be JSON text.' });
    expect(frames.find((frame) => frame.request_id === 'bad')).toMatchObject({
      code: 1001,
      message: expect.stringMatching(/parameters\.messages/),
    });
    expect(frames.find((frame) => frame.request_id === 'lost')).toMatchObject({ code: 1008 });
    const ok = frames.filter((frame) => frame.request_id === 'ok');
    expect(ok.map((frame) => frame.choices[0].delta.content ?? '').join('')).toContain('You said: "hi"');
    expect(ok.at(-1)).toMatchObject({ code: 0, choices: [{ finish_reason: 'stop' }] });
  });

  it('tRPC over WebSocket: answers queries, refuses bad messages with coded tRPC errors and keeps the socket', async () => {
    const socket = new WebSocket(`${server.wsUrl}/trpc`, { headers: demoKey });
    const messages: Array<Record<string, any> | string> = [];
    socket.on('message', (data) => {
      const text = (data as Buffer).toString();
      messages.push(text === 'PONG' ? text : (JSON.parse(text) as Record<string, any>));
    });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send('not json');
    socket.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'chat.usage', input: { json: {} } } }));
    socket.send(
      JSON.stringify([
        { id: 2, method: 'query', params: { path: 'chat.nope', input: { json: null } } },
        {
          id: 3,
          method: 'subscription',
          params: { path: 'chat.completions', input: { json: { bot_id: 'demo-bot' } } },
        },
        // A query called as a mutation: the wrong procedure type.
        { id: 4, method: 'mutation', params: { path: 'chat.usage', input: { json: {} } } },
      ]),
    );
    socket.send('PING');
    await waitFor(() => messages.length >= 6);
    socket.close();
    const byId = (id: unknown) => messages.find((message) => typeof message === 'object' && message.id === id);
    expect(byId(null)).toMatchObject({ error: { json: { data: { code: 'PARSE_ERROR', appCode: 1001 } } } });
    expect(byId(1)).toMatchObject({
      result: { type: 'data', data: { json: { appId: 'demo-app', days: expect.any(Array) } } },
    });
    expect(byId(2)).toMatchObject({ error: { json: { data: { code: 'NOT_FOUND', appCode: 1008 } } } });
    // tRPC knows no mutation of that name: not found.
    expect(byId(4)).toMatchObject({ error: { json: { data: { appCode: 1008 } } } });
    expect(byId(3)).toMatchObject({
      error: { json: { message: expect.stringMatching(/uid/), data: { code: 'BAD_REQUEST', appCode: 1001 } } },
    });
    expect(messages).toContain('PONG');
  });

  it("tRPC over HTTP: an unknown procedure, the wrong procedure type and POST to a subscription are the caller's mistakes", async () => {
    const appCodeOf = async (response: Response) => {
      const body = (await response.json()) as { error: { json: { data: { appCode: number } } } };
      return { status: response.status, appCode: body.error.json.data.appCode };
    };
    const key = { authorization: 'Bearer sk-demo' };
    expect(await appCodeOf(await fetch(`${server.url}/trpc/chat.nope`, { headers: key }))).toEqual({
      status: 404,
      appCode: 1008,
    });
    // A query sent as a mutation, a mutation sent as a query.
    expect(await appCodeOf(await postJson(`${server.url}/trpc/chat.usage`, { json: {} }, key))).toMatchObject({
      appCode: 1001,
    });
    expect(await appCodeOf(await fetch(`${server.url}/trpc/chat.runs.cancel`, { headers: key }))).toMatchObject({
      appCode: 1001,
    });
    expect(await appCodeOf(await postJson(`${server.url}/trpc/chat.completions`, { json: valid }, key))).toMatchObject({
      appCode: 1001,
    });
  });

  it('still serves normally after all of the above', async () => {
    const response = await astron({ ...valid, stream: false });
    expect(response.status).toBe(200);
  });

  it('refuses the demo credentials outside demo mode', async () => {
    const production = await startTestApp(backend, { env: { DEMO_MODE: '0' } });
    try {
      const response = await postJson(`${production.url}/agent/v1/chat/completions`, valid, demoKey);
      expect(response.status).toBe(401);
      const viaHeader = await postJson(`${production.url}/agent/v1/chat/completions`, valid, {
        'x-consumer-username': 'demo-app',
      });
      expect(viaHeader.status).toBe(401);
    } finally {
      await production.close();
    }
  });
});

function now(): number {
  return Math.floor(Date.now() / 1000);
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
