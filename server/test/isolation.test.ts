import { createAdminClient, createChatClient, type ChatEvent } from '@astron-chat/client';
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import OpenAI from 'openai';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signWebSocketRequest } from '../src/auth/authenticator.ts';
import { DEMO_ADMIN_TOKEN } from '../src/config/config.ts';
import type { AppRouter } from '../src/transport/trpc/trpc.router.ts';
import { testBackends } from './support/backends.ts';
import { postJson } from './support/sse.ts';
import { createTenant, type Tenant } from './support/tenants.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const newChatId = () => `chat-${Math.random().toString(36).slice(2, 10)}`;
const astronBody = (botId: string, uid: string, content: string, chatId: string) => ({
  bot_id: botId,
  uid,
  chat_id: chatId,
  parameters: { messages: [{ role: 'user', content }] },
});

type Frame = Record<string, any>;

/** A signed plain WebSocket that records every frame and how it closed. */
async function openPlainSocket(server: TestApp, tenant: Tenant, secret = tenant.secret) {
  const ts = String(Math.floor(Date.now() / 1000));
  const signa = encodeURIComponent(signWebSocketRequest({ appid: tenant.appId, ts, secret }));
  const socket = new WebSocket(`${server.wsUrl}/agent/v1/ws?appid=${tenant.appId}&ts=${ts}&signa=${signa}`);
  const frames: Frame[] = [];
  const waiters: Array<() => void> = [];
  let closeCode: number | undefined;
  socket.on('message', (data) => {
    frames.push(JSON.parse((data as Buffer).toString()) as Frame);
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on('close', (code) => {
    closeCode = code;
    for (const wake of waiters.splice(0)) wake();
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  /** Sends a run and waits for its last frame (finish or error). */
  async function run(requestId: string, body: Record<string, unknown>): Promise<Frame[]> {
    socket.send(JSON.stringify({ request_id: requestId, ...body }));
    const mine = () => frames.filter((frame) => frame.request_id === requestId);
    while (!mine().some((frame) => frame.object === 'error' || frame.choices?.[0]?.finish_reason)) {
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    return mine();
  }
  async function closed(): Promise<number> {
    while (closeCode === undefined) await new Promise<void>((resolve) => waiters.push(resolve));
    return closeCode;
  }
  return { socket, run, closed };
}

async function collect(events: AsyncIterable<ChatEvent>) {
  let text = '';
  for await (const event of events) if (event.type === 'text-delta') text += event.text;
  return text;
}

describe.each(testBackends())('isolation between users and credentials on $name', (backend) => {
  let server: TestApp;
  let tenant: Tenant;
  const admin = () => createAdminClient({ url: server.url, adminToken: DEMO_ADMIN_TOKEN });

  beforeAll(async () => {
    server = await startTestApp(backend, { env: { SIGNATURE_WINDOW_SECONDS: '2' } });
    tenant = await createTenant(server.url, 'iso');
  });
  afterAll(async () => {
    await server.close();
  });

  const messagesOf = async (chatId: string) =>
    server.app.database.db
      .selectFrom('messages')
      .select(['content', 'role'])
      .where('app_id', '=', tenant.appId)
      .where('chat_id', '=', chatId)
      .orderBy('id')
      .execute();

  it("a user sending another user's chat_id gets 1008 on every transport and never reads or writes it", async () => {
    const chatId = newChatId();
    const key = { authorization: `Bearer ${tenant.apiKey}` };
    const first = await postJson(
      `${server.url}/agent/v1/chat/completions`,
      astronBody(tenant.botId, 'alice', 'alice secret plans', chatId),
      key,
    );
    expect(first.status).toBe(200);
    await first.json();
    const before = await messagesOf(chatId);
    expect(before.map((message) => message.content)[0]).toBe('alice secret plans');

    // Astron REST, plain and streaming.
    for (const stream of [false, true]) {
      const response = await postJson(
        `${server.url}/agent/v1/chat/completions`,
        { ...astronBody(tenant.botId, 'bob', 'bob here', chatId), stream },
        key,
      );
      expect(response.status).toBe(404);
      const body = (await response.json()) as { code: number; message: string; param: string };
      expect(body.code).toBe(1008);
      expect(body.param).toBe('chat_id');
      expect(body.message).not.toContain('alice');
    }

    // OpenAI REST with chat_id; `user` is the uid.
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: tenant.apiKey, maxRetries: 0 });
    await expect(
      openai.chat.completions.create({
        model: tenant.botId,
        messages: [{ role: 'user', content: 'bob again' }],
        user: 'bob',
        chat_id: chatId,
      } as never),
    ).rejects.toMatchObject({ status: 404 });
    // Without `user` the caller is user "" — not alice either.
    await expect(
      openai.chat.completions.create({
        model: tenant.botId,
        messages: [{ role: 'user', content: 'nobody' }],
        chat_id: chatId,
      } as never),
    ).rejects.toMatchObject({ status: 404 });

    // tRPC over SSE and WebSocket.
    for (const transport of ['sse', 'ws'] as const) {
      const client = createChatClient({ url: server.url, transport, apiKey: tenant.apiKey });
      await expect(
        collect(client.streamCompletion(astronBody(tenant.botId, 'bob', `bob on ${transport}`, chatId) as never)),
      ).rejects.toMatchObject({ code: 1008 });
      client.close();
    }

    // Plain WebSocket.
    const plain = await openPlainSocket(server, tenant);
    const frames = await plain.run('bob', astronBody(tenant.botId, 'bob', 'bob on ws', chatId));
    expect(frames).toEqual([expect.objectContaining({ object: 'error', code: 1008 })]);
    // Alice's own turn on the same socket still works and sees her history.
    const own = await plain.run('alice', astronBody(tenant.botId, 'alice', 'alice again', chatId));
    expect(own.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('')).toMatch(/turn 2/);
    plain.socket.close();

    const after = await messagesOf(chatId);
    expect(after.map((message) => message.content).filter((content) => /bob|nobody/.test(content))).toEqual([]);
    expect(after).toHaveLength(before.length + 2);
  });

  it('of two users claiming one new chat_id at once, exactly one gets it', async () => {
    const chatId = newChatId();
    const key = { authorization: `Bearer ${tenant.apiKey}` };
    const responses = await Promise.all(
      ['carol', 'dave'].map((uid) =>
        postJson(`${server.url}/agent/v1/chat/completions`, astronBody(tenant.botId, uid, `${uid} first`, chatId), key),
      ),
    );
    expect(responses.map((response) => response.status).sort()).toEqual([200, 404]);
    await Promise.all(responses.map((response) => response.text()));
    const stored = await messagesOf(chatId);
    const winner = responses[0]!.status === 200 ? 'carol' : 'dave';
    expect(stored.filter((message) => message.role === 'user').map((message) => message.content)).toEqual([
      `${winner} first`,
    ]);
  });

  it('an open plain WebSocket starts no run once its app is disabled, and none once its secret is revoked', async () => {
    const body = (content: string) => ({
      bot_id: tenant.botId,
      uid: 'u',
      parameters: { messages: [{ role: 'user', content }] },
    });

    // Disabling the app.
    const disabled = await createTenant(server.url, 'iso-off');
    const disabledBody = { ...body('x'), bot_id: disabled.botId };
    const onDisabled = await openPlainSocket(server, disabled);
    expect((await onDisabled.run('before', disabledBody)).at(-1)?.choices?.[0]?.finish_reason).toBe('stop');
    await admin().admin.apps.disable.mutate({ appId: disabled.appId });
    const refused = await onDisabled.run('after', disabledBody);
    expect(refused).toEqual([expect.objectContaining({ object: 'error', code: 1007 })]);
    expect(await onDisabled.closed()).toBe(1008);

    // Revoking the secret that opened the socket; a socket opened with another secret goes on.
    const secrets = await admin().admin.secrets.list.query({ appId: tenant.appId });
    const second = await admin().admin.secrets.create.mutate({ appId: tenant.appId });
    const onOld = await openPlainSocket(server, tenant);
    const onNew = await openPlainSocket(server, tenant, second.secret);
    expect((await onOld.run('before', body('x'))).at(-1)?.choices?.[0]?.finish_reason).toBe('stop');
    await admin().admin.secrets.revoke.mutate({ appId: tenant.appId, secretId: secrets[0]!.id });
    const revoked = await onOld.run('after', body('x'));
    expect(revoked).toEqual([expect.objectContaining({ object: 'error', code: 1002 })]);
    expect(revoked[0]!.message).toMatch(/revoked/);
    expect(await onOld.closed()).toBe(1008);
    expect((await onNew.run('after', body('x'))).at(-1)?.choices?.[0]?.finish_reason).toBe('stop');
    onNew.socket.close();
  });

  it('a tRPC WebSocket opened with a signature outlives the window; revoking its secret applies at once', async () => {
    const signed = await createTenant(server.url, 'iso-trpc');
    const secrets = await admin().admin.secrets.list.query({ appId: signed.appId });
    const ts = Math.floor(Date.now() / 1000);
    const wsClient = createWSClient({
      url: `${server.wsUrl}/trpc`,
      connectionParams: {
        appid: signed.appId,
        ts: String(ts),
        signa: signWebSocketRequest({ appid: signed.appId, ts, secret: signed.secret }),
      },
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    });
    const trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient, transformer: superjson })] });
    try {
      await trpc.chat.usage.query();
      // SIGNATURE_WINDOW_SECONDS is 2 here: a call well after it, on the same socket, is still accepted.
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      await expect(trpc.chat.usage.query()).resolves.toMatchObject({ appId: signed.appId });
      await admin().admin.secrets.revoke.mutate({ appId: signed.appId, secretId: secrets[0]!.id });
      await expect(trpc.chat.usage.query()).rejects.toMatchObject({ data: { appCode: 1002 } });
    } finally {
      void wsClient.close();
    }
  });
});
