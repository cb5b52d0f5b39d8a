import { createAdminClient, createChatClient, type ChatEvent } from '@astron-chat/client';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signWebSocketRequest } from '../src/auth/authenticator.ts';
import { DEMO_ADMIN_TOKEN } from '../src/config/config.ts';
import { testBackends } from './support/backends.ts';
import { postJson } from './support/sse.ts';
import { createTenant, type Tenant } from './support/tenants.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const chatIdFor = (label: string) => `${label}-${Math.random().toString(36).slice(2, 10)}`;
const astronBody = (botId: string, content: string, chatId?: string) => ({
  bot_id: botId,
  uid: 'u',
  ...(chatId ? { chat_id: chatId } : {}),
  parameters: { messages: [{ role: 'user', content }] },
});

async function collect(events: AsyncIterable<ChatEvent>) {
  let text = '';
  for await (const event of events) if (event.type === 'text-delta') text += event.text;
  return text;
}

/** Opens a signed plain WebSocket, sends one run and returns its frames (or the refusal). */
async function plainWebSocketRun(server: TestApp, tenant: Tenant, body: Record<string, unknown>) {
  const ts = String(Math.floor(Date.now() / 1000));
  const signa = encodeURIComponent(signWebSocketRequest({ appid: tenant.appId, ts, secret: tenant.secret }));
  const socket = new WebSocket(`${server.wsUrl}/agent/v1/ws?appid=${tenant.appId}&ts=${ts}&signa=${signa}`);
  const frames: Array<Record<string, any>> = [];
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  await new Promise<void>((resolve) => {
    socket.on('message', (data) => {
      const frame = JSON.parse((data as Buffer).toString()) as Record<string, any>;
      frames.push(frame);
      if (frame.choices?.[0]?.finish_reason) resolve();
    });
    socket.send(JSON.stringify({ request_id: 'r', ...body }));
  });
  socket.close();
  return frames;
}

describe.each(testBackends())('apps, keys and conversations on $name', (backend) => {
  let server: TestApp;
  let alpha: Tenant;
  let beta: Tenant;
  let alphaChat: string;

  beforeAll(async () => {
    server = await startTestApp(backend);
    alpha = await createTenant(server.url, 'alpha');
    beta = await createTenant(server.url, 'beta');
    alphaChat = chatIdFor('alpha-chat');
    const response = await postJson(
      `${server.url}/agent/v1/chat/completions`,
      astronBody(alpha.botId, 'alpha secret plans', alphaChat),
      { authorization: `Bearer ${alpha.apiKey}` },
    );
    expect(response.status).toBe(200);
    await response.json();
  });
  afterAll(async () => {
    await server.close();
  });

  const countAlpha = async () => {
    const db = server.app.database.db;
    const [messages, runs] = await Promise.all([
      db
        .selectFrom('messages')
        .select((expression) => expression.fn.countAll<number>().as('count'))
        .where('app_id', '=', alpha.appId)
        .executeTakeFirstOrThrow(),
      db
        .selectFrom('runs')
        .select((expression) => expression.fn.countAll<number>().as('count'))
        .where('app_id', '=', alpha.appId)
        .executeTakeFirstOrThrow(),
    ]);
    return { messages: Number(messages.count), runs: Number(runs.count) };
  };

  it("refuses every route and procedure with app beta's credentials on app alpha's bots, chats and usage", async () => {
    const before = await countAlpha();
    const betaKey = { authorization: `Bearer ${beta.apiKey}` };
    const sse = createChatClient({ url: server.url, transport: 'sse', apiKey: beta.apiKey });
    const ws = createChatClient({ url: server.url, transport: 'ws', apiKey: beta.apiKey });
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: beta.apiKey, maxRetries: 0 });
    // Alpha's bot id is the same as beta's own; alpha's is reachable only by naming an id beta lacks.
    const admin = createAdminClient({ url: server.url, adminToken: DEMO_ADMIN_TOKEN });
    await admin.admin.bots.create.mutate({
      appId: alpha.appId,
      botId: 'alpha-only',
      definition: { kind: 'chat', model: { provider: 'demo' } },
    });

    const attempts: Array<[string, () => Promise<unknown>]> = [
      [
        'Astron REST: run alpha-only',
        async () =>
          (await postJson(`${server.url}/agent/v1/chat/completions`, astronBody('alpha-only', 'x'), betaKey)).status,
      ],
      [
        'OpenAI REST: run alpha-only',
        () =>
          openai.chat.completions
            .create({ model: 'alpha-only', messages: [{ role: 'user', content: 'x' }] })
            .catch((error: { status: number }) => error.status),
      ],
      [
        'tRPC SSE: run alpha-only',
        () =>
          collect(sse.streamCompletion(astronBody('alpha-only', 'x') as never)).catch(
            (error: { code: number }) => error.code,
          ),
      ],
      [
        'tRPC WS: run alpha-only',
        () =>
          collect(ws.streamCompletion(astronBody('alpha-only', 'x') as never)).catch(
            (error: { code: number }) => error.code,
          ),
      ],
      [
        'plain WS: run alpha-only',
        async () => (await plainWebSocketRun(server, beta, astronBody('alpha-only', 'x'))).at(-1)?.code,
      ],
      [
        'REST: read alpha chat',
        async () => (await fetch(`${server.url}/agent/v1/chats/${alphaChat}/messages`, { headers: betaKey })).status,
      ],
      [
        'tRPC: read alpha chat',
        () =>
          sse.trpc.chat.history
            .query({ chatId: alphaChat })
            .catch((error: { data: { appCode: number } }) => error.data.appCode),
      ],
    ];
    const results = [];
    for (const [name, attempt] of attempts) results.push([name, await attempt()]);
    expect(results).toEqual([
      ['Astron REST: run alpha-only', 404],
      ['OpenAI REST: run alpha-only', 404],
      ['tRPC SSE: run alpha-only', 1008],
      ['tRPC WS: run alpha-only', 1008],
      ['plain WS: run alpha-only', 1008],
      ['REST: read alpha chat', 404],
      ['tRPC: read alpha chat', 1008],
    ]);

    // Beta writing to a chat id alpha uses gets a conversation of its own.
    const reused = (await (
      await postJson(`${server.url}/agent/v1/chat/completions`, astronBody(beta.botId, 'beta here', alphaChat), betaKey)
    ).json()) as Record<string, any>;
    expect(reused.choices[0].message.content).toContain('turn 1');
    const models = [];
    for await (const model of openai.models.list()) models.push(model.id);
    expect(models).toEqual([beta.botId]);
    const usage = (await (await fetch(`${server.url}/agent/v1/usage`, { headers: betaKey })).json()) as {
      app_id: string;
      days: Array<{ bot_id: string }>;
    };
    expect(usage.app_id).toBe(beta.appId);
    expect(usage.days.every((day) => day.bot_id === beta.botId)).toBe(true);

    // Nothing of alpha was read, changed or counted.
    expect(await countAlpha()).toEqual(before);
    const alphaHistory = (await (
      await fetch(`${server.url}/agent/v1/chats/${alphaChat}/messages`, {
        headers: { authorization: `Bearer ${alpha.apiKey}` },
      })
    ).json()) as { messages: Array<{ content: string }> };
    expect(alphaHistory.messages.map((message) => message.content)[0]).toBe('alpha secret plans');
    expect(alphaHistory.messages).toHaveLength(2);
    sse.close();
    ws.close();
  });

  it('keeps one conversation across every transport by chat_id, and reads it back', async () => {
    const chatId = chatIdFor('shared');
    const key = { authorization: `Bearer ${alpha.apiKey}` };
    const answers: string[] = [];
    answers.push(
      (
        (await (
          await postJson(`${server.url}/agent/v1/chat/completions`, astronBody(alpha.botId, 'one', chatId), key)
        ).json()) as any
      ).choices[0].message.content,
    );
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: alpha.apiKey });
    const completion = await openai.chat.completions.create({
      model: alpha.botId,
      messages: [{ role: 'user', content: 'two' }],
      user: 'u',
      chat_id: chatId,
    } as never);
    answers.push(
      (completion as unknown as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content,
    );
    for (const transport of ['sse', 'ws'] as const) {
      const client = createChatClient({ url: server.url, transport, apiKey: alpha.apiKey });
      answers.push(await collect(client.streamCompletion(astronBody(alpha.botId, transport, chatId) as never)));
      client.close();
    }
    const frames = await plainWebSocketRun(server, alpha, astronBody(alpha.botId, 'five', chatId));
    answers.push(frames.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join(''));
    expect(answers.map((answer) => /turn (\d+)/.exec(answer)?.[1])).toEqual(['1', '2', '3', '4', '5']);

    const client = createChatClient({ url: server.url, transport: 'sse', apiKey: alpha.apiKey });
    const page = await client.trpc.chat.history.query({ chatId, limit: 4 });
    expect(page.messages.map((message) => message.content).filter((_, index) => index % 2 === 0)).toEqual([
      'ws',
      'five',
    ]);
    const older = await client.trpc.chat.history.query({ chatId, limit: 4, before: page.nextBefore });
    expect(older.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(older.messages[0]?.content).toBe('two');
    client.close();
  });

  it('keeps the partial answer of a cancelled run, marked partial, and never sends reasoning back', async () => {
    const slow = await startTestApp(backend, { env: { DEMO_MODEL_DELAY_MS: '30' } });
    try {
      const chatId = chatIdFor('partial');
      const controller = new AbortController();
      const response = await postJson(
        `${slow.url}/agent/v1/chat/completions`,
        { ...astronBody('demo-bot', 'think then stop', chatId), stream: true },
        { authorization: 'Bearer sk-demo' },
        controller.signal,
      );
      const reader = response.body!.getReader();
      let seen = '';
      while (!seen.includes('"content":"This')) seen += new TextDecoder().decode((await reader.read()).value);
      controller.abort();
      const rows = await waitForRows(slow, chatId, 2);
      expect(rows[1]).toMatchObject({ role: 'assistant', status: 'partial' });
      expect(rows[1]?.reasoning).toContain('The user asked');
      expect(rows[1]?.content.startsWith('This')).toBe(true);
    } finally {
      await slow.close();
    }
  });

  it('refuses a revoked key on the next request and a disabled app until it is enabled again', async () => {
    const admin = createAdminClient({ url: server.url, adminToken: DEMO_ADMIN_TOKEN });
    const tenant = await createTenant(server.url, 'gamma');
    const ask = () =>
      postJson(`${server.url}/agent/v1/chat/completions`, astronBody(tenant.botId, 'hi'), {
        authorization: `Bearer ${tenant.apiKey}`,
      });
    expect((await ask()).status).toBe(200);
    await admin.admin.apps.disable.mutate({ appId: tenant.appId });
    const disabled = await ask();
    expect(disabled.status).toBe(403);
    expect(((await disabled.json()) as { message: string }).message).toMatch(/disabled/);
    await admin.admin.apps.enable.mutate({ appId: tenant.appId });
    expect((await ask()).status).toBe(200);
    await admin.admin.keys.revoke.mutate({ appId: tenant.appId, keyId: tenant.apiKeyId });
    const revoked = await ask();
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as { code: number }).code).toBe(1002);
  });

  it('serves a changed bot on the very next request (cache invalidated) and keeps every version', async () => {
    const admin = createAdminClient({ url: server.url, adminToken: DEMO_ADMIN_TOKEN });
    const tenant = await createTenant(server.url, 'delta');
    const ask = async () =>
      (
        (await (
          await postJson(`${server.url}/agent/v1/chat/completions`, astronBody(tenant.botId, 'hello there'), {
            authorization: `Bearer ${tenant.apiKey}`,
          })
        ).json()) as any
      ).choices[0];
    expect((await ask()).finish_reason).toBe('stop');
    await admin.admin.bots.update.mutate({
      appId: tenant.appId,
      botId: tenant.botId,
      definition: { kind: 'chat', model: { provider: 'demo' }, parameters: { maxTokens: 3 } },
    });
    const limited = await ask();
    expect(limited.finish_reason).toBe('length');
    expect(limited.message.content.trim().split(/\s+/)).toHaveLength(3);
    expect(
      (await admin.admin.bots.versions.query({ appId: tenant.appId, botId: tenant.botId })).map(
        (version) => version.version,
      ),
    ).toEqual([1, 2]);
    const runs = await server.app.database.db
      .selectFrom('runs')
      .select('bot_version')
      .where('app_id', '=', tenant.appId)
      .orderBy('id')
      .execute();
    expect(runs.map((run) => run.bot_version)).toEqual([1, 2]);
  });

  it('answers admin mistakes with the table codes and the exact place', async () => {
    const admin = createAdminClient({ url: server.url, adminToken: DEMO_ADMIN_TOKEN });
    const failure = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (error: { data: { appCode: number }; message: string }) => ({
          code: error.data.appCode,
          message: error.message,
        }),
      );
    expect(await failure(admin.admin.apps.create.mutate({ id: alpha.appId }))).toMatchObject({
      code: 1001,
      message: expect.stringMatching(/already exists/),
    });
    expect(await failure(admin.admin.apps.disable.mutate({ appId: 'no-such-app' }))).toMatchObject({ code: 1008 });
    expect(await failure(admin.admin.keys.revoke.mutate({ appId: alpha.appId, keyId: 'key_nope' }))).toMatchObject({
      code: 1008,
    });
    expect(
      await failure(
        admin.admin.bots.create.mutate({
          appId: alpha.appId,
          botId: 'broken',
          definition: { kind: 'chat', model: { provider: 7 } },
        }),
      ),
    ).toMatchObject({ code: 1001, message: expect.stringMatching(/^definition\.model\.provider/) });
    expect(
      await failure(
        admin.admin.bots.update.mutate({
          appId: alpha.appId,
          botId: 'ghost',
          definition: { kind: 'chat', model: { provider: 'demo' } },
        }),
      ),
    ).toMatchObject({ code: 1008 });
    const secrets = await admin.admin.secrets.list.query({ appId: alpha.appId });
    expect(JSON.stringify(secrets)).not.toContain(alpha.secret);
    const keys = await admin.admin.keys.list.query({ appId: alpha.appId });
    expect(JSON.stringify(keys)).not.toContain(alpha.apiKey);

    for (const token of [undefined, 'wrong-token-123']) {
      const response = await fetch(`${server.url}/trpc/admin.apps.list`, {
        headers: token ? { 'x-admin-token': token } : {},
      });
      expect(response.status).toBe(401);
    }
    const locked = await startTestApp(backend, { env: { DEMO_MODE: '0' } });
    try {
      const response = await fetch(`${locked.url}/trpc/admin.apps.list`, {
        headers: { 'x-admin-token': DEMO_ADMIN_TOKEN },
      });
      expect(response.status).toBe(403);
    } finally {
      await locked.close();
    }
  });

  it('trusts the consumer header only where the deployment says a gateway sets it', async () => {
    const strict = await startTestApp(backend, { env: { TRUST_CONSUMER_HEADER: '0' } });
    try {
      const response = await postJson(`${strict.url}/agent/v1/chat/completions`, astronBody('demo-bot', 'hi'), {
        'x-consumer-username': 'demo-app',
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { message: string }).message).toMatch(/not trusted/);
    } finally {
      await strict.close();
    }
  });
});

async function waitForRows(server: TestApp, chatId: string, count: number) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const rows = await server.app.database.db
      .selectFrom('messages')
      .selectAll()
      .where('chat_id', '=', chatId)
      .orderBy('id')
      .execute();
    if (rows.length >= count || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
