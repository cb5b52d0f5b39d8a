// What the web console reads and how the server serves it: a user's conversations and an app's runs
// (REST and tRPC, scoped by app and uid), the admin reads of any app, and the console's static files.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createAdminClient, createChatClient } from '@astron-chat/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ADMIN_TOKEN } from '../src/config/config.ts';
import { testBackends } from './support/backends.ts';
import { postJson } from './support/sse.ts';
import { createTenant, type Tenant } from './support/tenants.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const suffix = () => Math.random().toString(36).slice(2, 10);

async function ask(server: TestApp, tenant: Tenant, body: { uid: string; chatId: string; content: string }) {
  const response = await postJson(
    `${server.url}/agent/v1/chat/completions`,
    {
      bot_id: tenant.botId,
      uid: body.uid,
      chat_id: body.chatId,
      parameters: { messages: [{ role: 'user', content: body.content }] },
    },
    { authorization: `Bearer ${tenant.apiKey}` },
  );
  expect(response.status).toBe(200);
  return (await response.json()) as { id: string };
}

const getJson = async (url: string, apiKey: string) => {
  const response = await fetch(url, { headers: { authorization: `Bearer ${apiKey}` } });
  return { status: response.status, body: (await response.json()) as any };
};

describe.each(testBackends())('console reads on $name', (backend) => {
  let server: TestApp;
  let alpha: Tenant;
  let beta: Tenant;
  const uid = `user-${suffix()}`;
  const chats = { first: `c1-${suffix()}`, second: `c2-${suffix()}`, other: `c3-${suffix()}` };
  const runIds: string[] = [];

  beforeAll(async () => {
    server = await startTestApp(backend);
    [alpha, beta] = await Promise.all([createTenant(server.url, 'alpha'), createTenant(server.url, 'beta')]);
    runIds.push((await ask(server, alpha, { uid, chatId: chats.first, content: 'First chat' })).id);
    runIds.push((await ask(server, alpha, { uid, chatId: chats.second, content: 'Second chat' })).id);
    // Another user of the same app, and the same uid in another app.
    await ask(server, alpha, { uid: `${uid}-other`, chatId: chats.other, content: 'Not yours' });
    await ask(server, beta, { uid, chatId: `b-${suffix()}`, content: 'Another app' });
    // A later turn moves the first chat to the top.
    runIds.push((await ask(server, alpha, { uid, chatId: chats.first, content: 'Back to the first' })).id);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('lists one user’s chats of the app, most recently active first, paged', async () => {
    const all = await getJson(`${server.url}/agent/v1/chats?uid=${uid}`, alpha.apiKey);
    expect(all.status).toBe(200);
    expect(all.body.chats.map((chat: any) => [chat.chat_id, chat.title])).toEqual([
      [chats.first, 'First chat'],
      [chats.second, 'Second chat'],
    ]);
    expect(all.body.next_before).toBeNull();

    const first = await getJson(`${server.url}/agent/v1/chats?uid=${uid}&limit=1`, alpha.apiKey);
    expect(first.body.chats.map((chat: any) => chat.chat_id)).toEqual([chats.first]);
    const next = await getJson(
      `${server.url}/agent/v1/chats?uid=${uid}&limit=1&before=${encodeURIComponent(first.body.next_before)}`,
      alpha.apiKey,
    );
    expect(next.body.chats.map((chat: any) => chat.chat_id)).toEqual([chats.second]);
    expect(next.body.next_before).toBeNull();

    const client = createChatClient({ url: server.url, transport: 'sse', apiKey: alpha.apiKey });
    const page = await client.trpc.chat.conversations.query({ uid });
    expect(page.chats.map((chat) => chat.chatId)).toEqual([chats.first, chats.second]);
    expect((await client.trpc.chat.bots.query()).bots.map((bot) => bot.botId)).toEqual([alpha.botId]);
    client.close();
  });

  it('says what is wrong with a bad conversations request', async () => {
    expect((await getJson(`${server.url}/agent/v1/chats`, alpha.apiKey)).body).toMatchObject({ code: 1001 });
    const badCursor = await getJson(`${server.url}/agent/v1/chats?uid=${uid}&before=nonsense`, alpha.apiKey);
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.message).toContain('before');
    expect((await getJson(`${server.url}/agent/v1/chats?uid=${uid}&limit=0`, alpha.apiKey)).body.message).toContain(
      'limit',
    );
  });

  it('lists the app’s runs newest first, paged, and no other app’s', async () => {
    const all = await getJson(`${server.url}/agent/v1/runs?limit=200`, alpha.apiKey);
    expect(all.status).toBe(200);
    const ids = all.body.runs.map((run: any) => run.run_id);
    expect(ids).toHaveLength(4);
    expect(ids[0]).toBe(runIds[2]);
    expect(ids.indexOf(runIds[1])).toBeLessThan(ids.indexOf(runIds[0]));
    expect(all.body.runs[0]).toMatchObject({ bot_id: alpha.botId, status: 'succeeded', uid, transport: 'astron' });

    const firstPage = await getJson(`${server.url}/agent/v1/runs?limit=3`, alpha.apiKey);
    expect(firstPage.body.runs).toHaveLength(3);
    const rest = await getJson(
      `${server.url}/agent/v1/runs?limit=3&before=${firstPage.body.next_before}`,
      alpha.apiKey,
    );
    expect(rest.body.runs.map((run: any) => run.run_id)).toEqual([ids[3]]);

    const betaRuns = await getJson(`${server.url}/agent/v1/runs`, beta.apiKey);
    expect(betaRuns.body.runs.map((run: any) => run.run_id)).not.toContain(runIds[0]);

    const client = createChatClient({ url: server.url, transport: 'sse', apiKey: alpha.apiKey });
    expect((await client.trpc.chat.runs.list.query({ limit: 1 })).runs.map((run) => run.runId)).toEqual([runIds[2]]);
    client.close();
  });

  it('gives the operator any app’s usage, runs and run details', async () => {
    const admin = createAdminClient({ url: server.url, adminToken: DEMO_ADMIN_TOKEN });
    const usage = await admin.admin.usage.query({ appId: alpha.appId });
    expect(usage.days.reduce((sum, day) => sum + day.runs, 0)).toBe(4);
    const runs = await admin.admin.runs.list.query({ appId: alpha.appId, limit: 2 });
    expect(runs.runs.map((run) => run.runId)).toEqual([runIds[2], expect.any(String)]);
    const run = await admin.admin.runs.get.query({ appId: alpha.appId, runId: runIds[0] ?? '' });
    expect(run).toMatchObject({ runId: runIds[0], status: 'succeeded' });
    await expect(admin.admin.runs.get.query({ appId: beta.appId, runId: runIds[0] ?? '' })).rejects.toThrow(
      /not found/,
    );
  });
});

/** Raw request: fetch would normalise `..` away before it is sent. */
function rawGet(url: string, requestPath: string, method = 'GET') {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>(
    (resolve, reject) => {
      const { hostname, port } = new URL(url);
      const outgoing = httpRequest({ hostname, port, path: requestPath, method }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      });
      outgoing.on('error', reject);
      outgoing.end();
    },
  );
}

describe('the console’s files', () => {
  let server: TestApp;

  beforeAll(async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'console-dist-'));
    mkdirSync(path.join(directory, 'assets'));
    writeFileSync(path.join(directory, 'index.html'), '<!doctype html><div id="root"></div>');
    writeFileSync(path.join(directory, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(path.join(directory, 'assets', 'index-abc123.css'), 'body{}');
    server = await startTestApp(
      { name: 'sqlite', databaseUrl: undefined, redisUrl: undefined },
      { env: { CONSOLE_DIR: directory } },
    );
  });

  afterAll(async () => {
    await server?.close();
  });

  it('serves the page at / and for the page’s own paths, revalidated, with a content security policy', async () => {
    for (const pagePath of ['/', '/operator', '/follow/run_1', '/index.html']) {
      const response = await rawGet(server.url, pagePath);
      expect(response.status, pagePath).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers['cache-control']).toBe('no-cache');
      expect(response.headers['content-security-policy']).toContain("script-src 'self'");
      expect(response.body).toContain('<div id="root">');
    }
    const head = await rawGet(server.url, '/', 'HEAD');
    expect([head.status, head.body]).toEqual([200, '']);
  });

  it('serves hashed assets with their type and a long cache life', async () => {
    const script = await rawGet(server.url, '/assets/index-abc123.js');
    expect(script).toMatchObject({ status: 200, body: 'console.log(1)' });
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await rawGet(server.url, '/assets/index-abc123.css')).headers['content-type']).toBe(
      'text/css; charset=utf-8',
    );
  });

  it('answers a missing asset, a path outside the folder and a non-GET with a JSON 404', async () => {
    for (const [method, requestPath] of [
      ['GET', '/assets/gone-123.js'],
      ['GET', '/../package.json'],
      ['GET', '/..%2f..%2fpackage.json'],
      ['GET', '/assets/..%2f..%2f..%2fetc%2fpasswd'],
      ['GET', '/%00.js'],
      ['POST', '/'],
    ] as const) {
      const response = await rawGet(server.url, requestPath, method);
      expect(response.status, requestPath).toBe(404);
      expect(JSON.parse(response.body), requestPath).toMatchObject({ code: 1008 });
    }
  });

  it('leaves the API paths their own 404s', async () => {
    const openai = await rawGet(server.url, '/v1/nothing');
    expect(openai.status).toBe(404);
    expect(JSON.parse(openai.body)).toMatchObject({ error: { type: expect.any(String) } });
    for (const requestPath of ['/agent/v1/nothing', '/trpc/nothing.here', '/health/x', '/metrics/x', '/tools/x']) {
      const response = await rawGet(server.url, requestPath);
      expect(response.status, requestPath).toBe(404);
      expect(response.headers['content-type'], requestPath).toContain('application/json');
    }
  });
});
