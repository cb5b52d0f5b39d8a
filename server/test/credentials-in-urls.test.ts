// No credential travels in a URL, and the server's log of a run over every transport holds none.
import { Writable } from 'node:stream';
import { createChatClient } from '@astron-chat/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { signWebSocketRequest } from '../src/auth/authenticator.ts';
import { readSse } from './support/sse.ts';
import { createTenant, type Tenant } from './support/tenants.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const embedded = { name: 'sqlite' as const, databaseUrl: undefined, redisUrl: undefined };

describe('credentials stay out of URLs and logs', () => {
  let server: TestApp;
  let tenant: Tenant;
  const logLines: string[] = [];

  beforeAll(async () => {
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    server = await startTestApp(embedded, { overrides: { logger: pino({ level: 'debug' }, capture) } });
    // Not the demo key (the demo banner may print that one): an app's own, made by an operator.
    tenant = await createTenant(server.url, 'logged');
  });
  afterAll(async () => {
    await server?.close();
  });

  const ask = (question: string) => ({
    bot_id: tenant.botId,
    uid: 'log-test',
    stream: true,
    parameters: { messages: [{ role: 'user' as const, content: question }] },
  });
  const bearer = () => ({ authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' });

  it('a chat over every transport leaves no key, secret or signature in the log', async () => {
    for (const transport of ['sse', 'ws'] as const) {
      const client = createChatClient({ url: server.url, transport, apiKey: tenant.apiKey });
      try {
        let text = '';
        for await (const event of client.streamCompletion(ask(`over tRPC ${transport}`))) {
          if (event.type === 'text-delta') text += event.text;
        }
        expect(text).toContain(`over tRPC ${transport}`);
      } finally {
        client.close();
      }
    }

    const astron = await fetch(`${server.url}/agent/v1/chat/completions`, {
      method: 'POST',
      headers: bearer(),
      body: JSON.stringify(ask('over Astron REST')),
    });
    expect((await readSse(astron)).raw).toContain('[DONE]');

    const openai = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: bearer(),
      body: JSON.stringify({ model: tenant.botId, stream: true, messages: [{ role: 'user', content: 'over OpenAI' }] }),
    });
    expect((await readSse(openai)).raw).toContain('[DONE]');

    const resumable = await fetch(`${server.url}/agent/v1/chat/completions`, {
      method: 'POST',
      headers: { ...bearer(), 'x-astron-resumable': 'true' },
      body: JSON.stringify(ask('resumable')),
    });
    const runId = resumable.headers.get('x-astron-run-id') ?? '';
    await readSse(resumable);
    const resumed = await fetch(`${server.url}/agent/v1/runs/${runId}/stream`, {
      headers: { ...bearer(), 'last-event-id': `${runId}:2` },
    });
    expect((await readSse(resumed)).raw).toContain('[DONE]');

    const ts = String(Math.floor(Date.now() / 1000));
    const signa = signWebSocketRequest({ appid: tenant.appId, ts, secret: tenant.secret });
    const frames = await new Promise<string[]>((resolve, reject) => {
      const socket = new WebSocket(
        `${server.wsUrl}/agent/v1/ws?appid=${tenant.appId}&ts=${ts}&signa=${encodeURIComponent(signa)}`,
      );
      const received: string[] = [];
      socket.on('open', () => socket.send(JSON.stringify({ ...ask('over the plain WebSocket'), request_id: 'r1' })));
      socket.on('message', (data: Buffer) => {
        received.push(data.toString());
        if (data.toString().includes('"finish_reason":"stop"')) {
          socket.close();
          resolve(received);
        }
      });
      socket.on('error', reject);
    });
    expect(frames.length).toBeGreaterThan(1);

    // Pino writes synchronously to the stream, but the request line comes when the response closes.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const log = logLines.join('');
    expect(log).toContain('"msg":"request"');
    expect(log).toContain(runId);
    for (const secret of [tenant.apiKey, tenant.secret, signa, encodeURIComponent(signa)]) {
      expect(log).not.toContain(secret);
    }
  });

  it('refuses a key in the SSE URL (connectionParams) with 1002, saying to send it as a header', async () => {
    const input = encodeURIComponent(JSON.stringify({ json: ask('key in the url') }));
    const params = encodeURIComponent(JSON.stringify({ apiKey: tenant.apiKey }));
    const response = await fetch(`${server.url}/trpc/chat.completions?input=${input}&connectionParams=${params}`);
    const { raw } = await readSse(response);
    expect(raw).toContain('event: serialized-error');
    expect(raw).toContain('"appCode":1002');
    expect(raw).toContain('authorization: Bearer');
    const runs = await server.app.database.db
      .selectFrom('runs')
      .select('id')
      .where('app_id', '=', tenant.appId)
      .where('uid', '=', 'log-test')
      .execute();
    // The first test's runs of this uid (tRPC SSE and WS, Astron, resumable, plain WebSocket; OpenAI's has
    // uid ""); the refused request started none.
    expect(runs).toHaveLength(5);
    expect(logLines.join('')).not.toContain(tenant.apiKey);
  });
});
