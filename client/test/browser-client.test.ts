// The browser build of the client in Chromium, on pages of other origins than the server: a CORS
// refusal, a wrong key and a dead server end the stream with a coded ChatClientError within seconds,
// and nothing keeps retrying after it.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as BrowserClient from '../src/browser.ts';
import { launchChromium, servePage } from '../../server/test/support/browser.ts';
import { freePort } from '../../server/test/support/child-services.ts';
import { startTestApp, type TestApp } from '../../server/test/support/test-app.ts';

type BrowserEntry = typeof BrowserClient;

const embedded = { name: 'sqlite' as const, databaseUrl: undefined, redisUrl: undefined };

/** The `browser` entry as a bundler resolves it for a page: `globalThis.astron`. */
async function browserBundle(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('../src/browser.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: 'astron',
    platform: 'browser',
    conditions: ['astron-source', 'browser'],
    logLevel: 'warning',
  });
  return result.outputFiles[0]?.text ?? '';
}

type Outcome = { ok: true; text: string } | { ok: false; name: string; code: number; message: string; ms: number };

describe('browser client on other origins', () => {
  let server: TestApp;
  let browser: Browser;
  let bundle: string;
  let allowedPage: Awaited<ReturnType<typeof servePage>>;
  let refusedPage: Awaited<ReturnType<typeof servePage>>;

  beforeAll(async () => {
    [allowedPage, refusedPage, bundle, browser] = await Promise.all([
      servePage('<!doctype html><title>allowed</title>'),
      servePage('<!doctype html><title>refused</title>'),
      browserBundle(),
      launchChromium(),
    ]);
    server = await startTestApp(embedded, { env: { CORS_ORIGINS: allowedPage.origin } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await allowedPage?.close();
    await refusedPage?.close();
  });

  /** Opens a page of `origin` with the client loaded; records the URLs it requests of `serverUrl`. */
  async function pageAt(
    origin: string,
    serverUrl: string,
  ): Promise<{ page: Page; requests: () => number; urls: string[] }> {
    const page = await browser.newPage();
    const urls: string[] = [];
    const { host } = new URL(serverUrl);
    // WebSocket handshakes (and their retries) are not `request` events.
    const record = (url: string) => {
      if (new URL(url).host === host) urls.push(url);
    };
    page.on('request', (request) => record(request.url()));
    page.on('websocket', (socket) => record(socket.url()));
    await page.goto(origin);
    await page.addScriptTag({ content: bundle });
    return { page, requests: () => urls.length, urls };
  }

  async function stream(page: Page, options: { url: string; transport: string; apiKey: string; uid: string }) {
    return page.evaluate(async ({ url, transport, apiKey, uid }): Promise<Outcome> => {
      const { createChatClient } = (globalThis as unknown as { astron: BrowserEntry }).astron;
      const client = createChatClient({ url, transport: transport as 'sse' | 'ws', apiKey });
      const startedAt = Date.now();
      try {
        let text = '';
        for await (const event of client.streamCompletion({
          bot_id: 'demo-bot',
          uid,
          parameters: {
            messages: [
              {
                role: 'user',
                content: `hello from ${(globalThis as unknown as { location: { origin: string } }).location.origin}`,
              },
            ],
          },
        })) {
          if (event.type === 'text-delta') text += event.text;
        }
        return { ok: true, text };
      } catch (error) {
        const failure = error as { name: string; code: number; message: string };
        return {
          ok: false,
          name: failure.name,
          code: failure.code,
          message: failure.message,
          ms: Date.now() - startedAt,
        };
      } finally {
        client.close();
      }
    }, options);
  }

  /** The stream's failure, and whether the page sent anything more to the server in the two seconds after it. */
  async function failureFrom(origin: string, options: { url: string; transport: string; apiKey: string; uid: string }) {
    const { page, requests } = await pageAt(origin, options.url);
    try {
      const outcome = await stream(page, options);
      const atFailure = requests();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      return { outcome, laterRequests: requests() - atFailure };
    } finally {
      await page.close();
    }
  }

  for (const transport of ['sse', 'ws']) {
    describe(`over ${transport}`, () => {
      it('a listed origin streams an answer (the key in a header, not the URL)', async () => {
        const { page, urls } = await pageAt(allowedPage.origin, server.url);
        try {
          const outcome = await stream(page, { url: server.url, transport, apiKey: 'sk-demo', uid: 'browser-ok' });
          expect(outcome).toMatchObject({ ok: true, text: expect.stringContaining(allowedPage.origin) });
          expect(urls.length).toBeGreaterThan(0);
          expect(urls.filter((url) => url.includes('sk-demo'))).toEqual([]);
        } finally {
          await page.close();
        }
      });

      it('an origin not in CORS_ORIGINS gets ChatClientError 1007 naming CORS_ORIGINS, starts no run and stops', async () => {
        const uid = `browser-refused-${transport}`;
        const { outcome, laterRequests } = await failureFrom(refusedPage.origin, {
          url: server.url,
          transport,
          apiKey: 'sk-demo',
          uid,
        });
        expect(outcome).toMatchObject({ ok: false, name: 'ChatClientError', code: 1007 });
        if (outcome.ok) return;
        expect(outcome.message).toContain(refusedPage.origin);
        expect(outcome.message).toContain('CORS_ORIGINS');
        expect(outcome.ms).toBeLessThan(5_000);
        expect(laterRequests).toBe(0);
        const runs = await server.app.database.db.selectFrom('runs').select('id').where('uid', '=', uid).execute();
        expect(runs).toHaveLength(0);
      });

      it('a wrong key gets ChatClientError 1002 at once', async () => {
        const { outcome, laterRequests } = await failureFrom(allowedPage.origin, {
          url: server.url,
          transport,
          apiKey: 'sk-wrong',
          uid: 'browser-wrong-key',
        });
        expect(outcome).toMatchObject({ ok: false, name: 'ChatClientError', code: 1002 });
        if (!outcome.ok) expect(outcome.ms).toBeLessThan(3_000);
        expect(laterRequests).toBe(0);
      });

      it('a dead server gets "cannot connect to <url>" within seconds, and no retry loop', async () => {
        const deadUrl = `http://127.0.0.1:${await freePort()}`;
        const { outcome, laterRequests } = await failureFrom(allowedPage.origin, {
          url: deadUrl,
          transport,
          apiKey: 'sk-demo',
          uid: 'browser-dead',
        });
        expect(outcome).toMatchObject({
          ok: false,
          name: 'ChatClientError',
          code: 1006,
          message: `cannot connect to ${deadUrl}: is the server running?`,
        });
        if (!outcome.ok) expect(outcome.ms).toBeLessThan(5_000);
        expect(laterRequests).toBe(0);
      });
    });
  }
});
