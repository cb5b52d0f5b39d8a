import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

describe('GET /docs: the live API reference', () => {
  let server: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    server = await startTestApp({ name: 'sqlite', databaseUrl: undefined, redisUrl: undefined });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads only from this server and sends a streamed request with the demo key', { timeout: 60_000 }, async () => {
    const page = await browser.newPage();
    const foreign: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(server.url)) foreign.push(request.url());
    });
    await page.goto(`${server.url}/docs`);
    const operation = page.locator('#operations-Astron-POST_agent_v1_chat_completions');
    await operation.locator('.opblock-summary').click();
    const body = operation.locator('textarea.body-param__text');
    await body.fill(
      JSON.stringify({
        bot_id: 'demo-bot',
        uid: 'docs',
        stream: true,
        parameters: { messages: [{ role: 'user', content: 'hi from the docs' }] },
      }),
    );
    await operation.locator('button.execute').click();
    const answer = operation.locator('.responses-wrapper .live-responses-table .response-col_description pre');
    await answer.first().waitFor({ timeout: 10_000 });
    const text = await answer.first().innerText();
    // The demo model answers word by word: one `data:` chunk each, then the end of the stream.
    expect(text).toContain('"delta":{"content":"said: "}');
    expect(text).toContain('data: [DONE]');
    await page.screenshot({ path: process.env.DOCS_SCREENSHOT ?? '/tmp/astron-chat-docs.png', fullPage: false });
    expect(foreign).toEqual([]);
    await page.close();
  });
});
