import { request as httpRequest } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebSocketRequest } from '../src/auth/authenticator.ts';
import { loadConfig } from '../src/config/config.ts';
import { launchChromium, servePage } from './support/browser.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/** Raw request, so that `Origin` and the preflight headers go out exactly as a browser sends them. */
function rawRequest(url: string, method: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>(
    (resolve, reject) => {
      const outgoing = httpRequest(url, { method, headers }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      });
      outgoing.on('error', reject);
      outgoing.end();
    },
  );
}

describe('CORS: browser pages on other origins', () => {
  let server: TestApp;
  let browser: Browser;
  let allowedPage: Awaited<ReturnType<typeof servePage>>;
  let otherPage: Awaited<ReturnType<typeof servePage>>;

  beforeAll(async () => {
    allowedPage = await servePage('<!doctype html><title>allowed</title>');
    otherPage = await servePage('<!doctype html><title>other</title>');
    server = await startTestApp(
      { name: 'sqlite', databaseUrl: undefined, redisUrl: undefined },
      { env: { CORS_ORIGINS: `https://unused.example, ${allowedPage.origin}` } },
    );
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await allowedPage?.close();
    await otherPage?.close();
  });

  /** In a page of `origin`: a streamed POST with a bearer key (preflighted), and a signed plain WebSocket. */
  async function callFrom(origin: string) {
    const page = await browser.newPage();
    try {
      await page.goto(origin);
      const ts = String(Date.now());
      const signa = encodeURIComponent(signWebSocketRequest({ appid: 'demo-app', ts, secret: 'demo-secret' }));
      return await page.evaluate(
        async ({ url, wsUrl, query }) => {
          const rest = await fetch(`${url}/agent/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: 'Bearer sk-demo', 'content-type': 'application/json', 'last-event-id': '' },
            body: JSON.stringify({
              bot_id: 'demo-bot',
              uid: 'browser',
              stream: true,
              parameters: { messages: [{ role: 'user', content: 'hi' }] },
            }),
          }).then(
            async (response) => ({
              status: response.status,
              requestId: response.headers.get('x-request-id'),
              text: await response.text(),
            }),
            (error: unknown) => ({ failed: String(error) }),
          );
          const socket = await new Promise<string>((resolve) => {
            const ws = new WebSocket(`${wsUrl}/agent/v1/ws?appid=demo-app&${query}`);
            ws.onopen = () => {
              ws.close();
              resolve('open');
            };
            ws.onerror = () => resolve('error');
          });
          return { rest, socket };
        },
        { url: server.url, wsUrl: server.wsUrl, query: `ts=${ts}&signa=${signa}` },
      );
    } finally {
      await page.close();
    }
  }

  it('a listed origin streams a completion, reads x-request-id, and opens the WebSocket', async () => {
    const { rest, socket } = await callFrom(allowedPage.origin);
    expect(rest).toMatchObject({ status: 200, requestId: expect.any(String) });
    expect((rest as { text: string }).text).toContain('data: [DONE]');
    expect(socket).toBe('open');
  });

  it('any other origin is refused: the fetch fails in the page and the WebSocket does not open', async () => {
    const { rest, socket } = await callFrom(otherPage.origin);
    expect(rest).toMatchObject({ failed: expect.stringContaining('Failed to fetch') });
    expect(socket).toBe('error');
  });

  it('preflight answers the methods and headers a client sends, and exposes x-request-id, retry-after and the resumable headers', async () => {
    const preflight = await rawRequest(`${server.url}/agent/v1/chat/completions`, 'OPTIONS', {
      origin: allowedPage.origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type, x-consumer-username, last-event-id',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(allowedPage.origin);
    expect(preflight.headers.vary).toBe('Origin');
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
    expect(String(preflight.headers['access-control-allow-methods']).split(', ')).toEqual(
      expect.arrayContaining(['GET', 'POST']),
    );
    expect(String(preflight.headers['access-control-allow-headers']).split(', ')).toEqual(
      expect.arrayContaining([
        'authorization',
        'content-type',
        'x-consumer-username',
        'last-event-id',
        'x-astron-resumable',
      ]),
    );
    const answer = await rawRequest(`${server.url}/v1/models`, 'GET', {
      origin: allowedPage.origin,
      authorization: 'Bearer sk-demo',
    });
    expect(answer.status).toBe(200);
    expect(String(answer.headers['access-control-expose-headers']).split(', ')).toEqual([
      'x-request-id',
      'retry-after',
      'x-astron-run-id',
      'x-astron-follow-token',
    ]);
  });

  it('a refused origin gets 403 with code 1007 naming CORS_ORIGINS; a caller without Origin gets no CORS headers', async () => {
    const refused = await rawRequest(`${server.url}/agent/v1/chat/completions`, 'OPTIONS', {
      origin: otherPage.origin,
      'access-control-request-method': 'POST',
    });
    expect(refused.status).toBe(403);
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    expect(JSON.parse(refused.body)).toMatchObject({ code: 1007, message: expect.stringContaining('CORS_ORIGINS') });
    const plain = await rawRequest(`${server.url}/v1/models`, 'GET', { authorization: 'Bearer sk-demo' });
    expect(plain.status).toBe(200);
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('"*" allows any origin without credentials, and is refused at startup together with credentials', async () => {
    const open = await startTestApp(
      { name: 'sqlite', databaseUrl: undefined, redisUrl: undefined },
      { env: { CORS_ORIGINS: '*' } },
    );
    try {
      const answer = await rawRequest(`${open.url}/v1/models`, 'GET', {
        origin: 'https://anywhere.example',
        authorization: 'Bearer sk-demo',
      });
      expect(answer.headers['access-control-allow-origin']).toBe('*');
      expect(answer.headers['access-control-allow-credentials']).toBeUndefined();
    } finally {
      await open.close();
    }
    expect(() => loadConfig({ CORS_ORIGINS: '*', CORS_ALLOW_CREDENTIALS: '1' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ CORS_ORIGINS: 'example.com' })).toThrow(/CORS_ORIGINS/);
  });
});
