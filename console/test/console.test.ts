// The web console in a real browser (Debian's Chromium through playwright-core) against a real server
// on port 0 that serves the built console. One browser for the file, a page or two per test.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createAdminClient } from '@astron-chat/client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../../server/test/support/backends.ts';
import { launchChromium } from '../../server/test/support/browser.ts';
import { startTestApp, type TestApp } from '../../server/test/support/test-app.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = path.join(root, 'console/dist/index.html');
/** `CONSOLE_SCREENSHOTS=1 npx vitest run console/test` refreshes the PNGs in docs/. */
const screenshots = process.env.CONSOLE_SCREENSHOTS ? path.join(root, 'docs') : undefined;

/** Newest modification time under the folders the console's build reads. */
function newestSource(): number {
  let newest = 0;
  const visit = (entry: string) => {
    const stat = statSync(entry);
    if (stat.isDirectory()) for (const name of readdirSync(entry)) visit(path.join(entry, name));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const folder of ['console/src', 'console/index.html', 'console/vite.config.ts', 'client/src', 'shared/src']) {
    visit(path.join(root, folder));
  }
  return newest;
}

/** Builds the console when dist/ is missing or older than its sources (a few seconds). */
async function ensureBuilt(): Promise<void> {
  let built = 0;
  try {
    built = statSync(dist).mtimeMs;
  } catch {
    // not built yet
  }
  if (built >= newestSource()) return;
  await promisify(execFile)('npm', ['run', 'build:console', '--silent'], { cwd: root, timeout: 120_000 });
}

const DELAY_MS = 40;
const backend = testBackends().at(-1) ?? { name: 'sqlite' as const, databaseUrl: undefined, redisUrl: undefined };
let browser: Browser;
let server: TestApp;
/** A second server with a fast demo model and an SQLite database of its own: the 5,000-delta answer, providers. */
let fastServer: TestApp;
const sockets = new Set<Socket>();

beforeAll(async () => {
  await ensureBuilt();
  [browser, server, fastServer] = await Promise.all([
    launchChromium(),
    // MySQL and Redis when the suite has them (CI does): follow, reload and reconnect then read the Redis run log.
    startTestApp(backend, { env: { DEMO_MODEL_DELAY_MS: String(DELAY_MS) } }),
    // 1 ms between words: a thousand deltas a second, faster than any model, without one burst.
    startTestApp(
      { name: 'sqlite', databaseUrl: undefined, redisUrl: undefined },
      { env: { DEMO_MODEL_DELAY_MS: '1' } },
    ),
  ]);
  // The sockets the page opens, so a test can drop them as a network would.
  server.app.server.on('upgrade', (_request, socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  if (screenshots) mkdirSync(screenshots, { recursive: true });
}, 150_000);

afterAll(async () => {
  await Promise.all([browser?.close(), server?.close(), fastServer?.close()]);
});

async function openPage(options: { url?: string; initScript?: string } = {}): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  (page as Page & { errors: string[] }).errors = errors;
  if (options.initScript) await page.addInitScript(options.initScript);
  await page.goto(options.url ?? server.url);
  return page;
}

/** The sign-in form, prefilled with the demo credentials in demo mode. */
async function signIn(page: Page): Promise<void> {
  await expect.poll(() => page.getByTestId('login-api-key').inputValue()).toBe('sk-demo');
  expect(await page.getByTestId('login-admin-token').inputValue()).toBe('demo-admin-token');
  await page.getByTestId('login-submit').click();
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-send').click();
}

const lastAnswer = (page: Page) => page.getByTestId('message-assistant').last();
const waitStatus = (page: Page, status: string) =>
  expect.poll(() => lastAnswer(page).getAttribute('data-status'), { timeout: 20_000 }).toBe(status);
const answerText = (page: Page) => lastAnswer(page).locator('.markdown').innerText();
const demoAnswer = (question: string, turn = 1) =>
  `This is the astron-chat demo model (a built-in demo, not a real LLM). You said: "${question}". This is turn ${turn} of our conversation.`;

async function runRecord(runId: string): Promise<{ status: string; finish_reason: string | null }> {
  const response = await fetch(`${server.url}/agent/v1/runs/${runId}`, {
    headers: { authorization: 'Bearer sk-demo' },
  });
  return (await response.json()) as { status: string; finish_reason: string | null };
}

const runIdOf = async (page: Page) =>
  decodeURIComponent(
    ((await lastAnswer(page).getByTestId('run-follow-link').getAttribute('href')) ?? '').split('/').pop() ?? '',
  );

const LONG_QUESTION = Array.from({ length: 30 }, (_, index) => `word${index}`).join(' ');

describe('web console', () => {
  it('signs in with the demo credentials, streams an answer and lists the conversation', async () => {
    const page = await openPage();
    await expect.poll(() => page.getByTestId('demo-note').isVisible()).toBe(true);
    // Credentials never reach the URL or a cookie.
    await signIn(page);
    expect(page.url()).not.toContain('sk-demo');
    expect(await page.context().cookies()).toEqual([]);
    expect(await page.evaluate(() => sessionStorage.getItem('astron-chat.session'))).toContain('sk-demo');
    await expect.poll(() => page.getByTestId('bot-select').inputValue()).toBe('demo-bot');

    await send(page, 'Please think about this');
    await expect.poll(() => page.getByTestId('message-user').last().innerText()).toBe('Please think about this');
    // Seen while streaming: the text grows.
    const lengths = new Set<number>();
    await expect
      .poll(
        async () => {
          if ((await lastAnswer(page).getAttribute('data-status')) === 'streaming') {
            lengths.add((await answerText(page).catch(() => '')).length);
          }
          return lengths.size;
        },
        { interval: 30, timeout: 10_000 },
      )
      .toBeGreaterThanOrEqual(3);
    await waitStatus(page, 'succeeded');
    expect(await answerText(page)).toBe(demoAnswer('Please think about this'));
    // Reasoning is there, collapsed; usage and time to first token under the answer.
    const reasoning = lastAnswer(page).getByTestId('reasoning');
    expect(await reasoning.getAttribute('open')).toBeNull();
    expect(await reasoning.innerText()).toContain('Reasoning');
    expect(await lastAnswer(page).locator('.message-meta').innerText()).toMatch(/tokens\s*· first token \d+ ms/);
    await expect.poll(() => page.getByTestId('conversations').innerText()).toContain('Please think about this');

    // The microphone is offered exactly where the browser has speech recognition.
    const recognition = await page.evaluate(() => 'SpeechRecognition' in window || 'webkitSpeechRecognition' in window);
    expect(await page.getByTestId('voice-input').count()).toBe(recognition ? 1 : 0);
    if (screenshots) await page.screenshot({ path: path.join(screenshots, 'console-chat.png') });
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
    await page.close();
  });

  it('stops mid-stream: the partial answer stays, marked, and the run is recorded cancelled', async () => {
    const page = await openPage();
    await signIn(page);
    await send(page, LONG_QUESTION);
    await expect.poll(async () => (await answerText(page).catch(() => '')).split(' ').length).toBeGreaterThan(4);
    const runId = await runIdOf(page);
    await page.getByTestId('chat-stop').click();
    await waitStatus(page, 'cancelled');
    const partial = await answerText(page);
    expect(demoAnswer(LONG_QUESTION).startsWith(partial.trimEnd())).toBe(true);
    expect(partial.length).toBeLessThan(demoAnswer(LONG_QUESTION).length);
    expect(await lastAnswer(page).innerText()).toContain('Stopped');
    await expect.poll(async () => (await runRecord(runId)).status, { timeout: 5_000 }).toBe('cancelled');
    // Nothing more arrives after Stop.
    await page.waitForTimeout(DELAY_MS * 5);
    expect(await answerText(page)).toBe(partial);
    await page.close();
  });

  it('picks a run up again after a reload, without a word lost or repeated', async () => {
    const page = await openPage();
    await signIn(page);
    await send(page, LONG_QUESTION);
    await expect.poll(async () => (await answerText(page).catch(() => '')).split(' ').length).toBeGreaterThan(4);
    const runId = await runIdOf(page);
    const before = await answerText(page);
    await page.reload();
    await waitStatus(page, 'succeeded');
    expect(await answerText(page)).toBe(demoAnswer(LONG_QUESTION));
    expect(before.length).toBeLessThan(demoAnswer(LONG_QUESTION).length);
    // The same run, not a second one.
    expect(await runIdOf(page)).toBe(runId);
    await expect.poll(async () => (await runRecord(runId)).status).toBe('succeeded');
    await page.close();
  });

  it('shows "reconnecting" when the connection drops, then the rest of the answer with nothing lost or repeated', async () => {
    const page = await openPage({
      initScript: `
        window.__sawReconnecting = false;
        new MutationObserver(() => {
          if (document.querySelector('[data-testid="reconnecting"]')) window.__sawReconnecting = true;
        }).observe(document, { subtree: true, childList: true });
      `,
    });
    await signIn(page);
    await send(page, LONG_QUESTION);
    await expect.poll(async () => (await answerText(page).catch(() => '')).split(' ').length).toBeGreaterThan(4);
    const runId = await runIdOf(page);
    for (const socket of sockets) socket.destroy();
    await expect
      .poll(() => page.evaluate(() => (window as { __sawReconnecting?: boolean }).__sawReconnecting), {
        timeout: 5_000,
      })
      .toBe(true);
    await waitStatus(page, 'succeeded');
    expect(await answerText(page)).toBe(demoAnswer(LONG_QUESTION));
    expect(await runIdOf(page)).toBe(runId);
    expect(await page.getByTestId('reconnecting').count()).toBe(0);
    await page.close();
  });

  it('follows a run by its link on a second page, with the same text', async () => {
    const page = await openPage();
    await signIn(page);
    await send(page, LONG_QUESTION);
    await expect.poll(async () => (await answerText(page).catch(() => '')).length).toBeGreaterThan(0);
    const href = await lastAnswer(page).getByTestId('run-follow-link').getAttribute('href');
    expect(href).toMatch(/^\/follow\/run_/);
    const follower = await openPage({ url: `${server.url}${href ?? ''}` });
    await signIn(follower);
    await waitStatus(follower, 'succeeded');
    await waitStatus(page, 'succeeded');
    const followed = await follower.getByTestId('message-assistant').locator('.markdown').innerText();
    expect(followed).toBe(await answerText(page));
    expect(followed).toBe(demoAnswer(LONG_QUESTION));
    await Promise.all([page.close(), follower.close()]);
  });

  it('shows hostile HTML in an answer as text and runs none of it', async () => {
    const page = await openPage();
    await signIn(page);
    const hostile =
      '<script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2"> [click me](javascript:window.__pwned=3) <a href="javascript:window.__pwned=4">link</a>';
    await send(page, hostile);
    await waitStatus(page, 'succeeded');
    const markdown = lastAnswer(page).locator('.markdown');
    expect(await markdown.innerText()).toContain('<script>window.__pwned = 1</script>');
    expect(await markdown.innerText()).toContain('<img src=x onerror="window.__pwned = 2">');
    expect(await markdown.locator('script, img, iframe, [onerror]').count()).toBe(0);
    const hrefs = await markdown.locator('a').evaluateAll((links) => links.map((link) => link.getAttribute('href')));
    expect(hrefs.filter((href) => /^\s*javascript:/i.test(href ?? ''))).toEqual([]);
    await markdown.getByText('click me').click();
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    await page.close();
  });

  it('reads the answer aloud sentence by sentence as it streams', async () => {
    const page = await openPage({
      initScript: `
        window.__spoken = [];
        const record = (utterance) => window.__spoken.push({
          text: utterance.text,
          streaming: document.querySelector('[data-testid="message-assistant"][data-status="streaming"]') !== null,
        });
        if (!('speechSynthesis' in window)) {
          window.speechSynthesis = { speak() {}, cancel() {} };
          window.SpeechSynthesisUtterance = class { constructor(text) { this.text = text; } };
        }
        Object.defineProperty(Object.getPrototypeOf(window.speechSynthesis), 'speak', { value: record });
        Object.defineProperty(window.speechSynthesis, 'speak', { value: record });
      `,
    });
    await signIn(page);
    await page.getByTestId('read-aloud').check();
    await send(page, 'Pi is 3.14 roughly. 你好。');
    await waitStatus(page, 'succeeded');
    const spoken = await page.evaluate(
      () => (window as unknown as { __spoken: Array<{ text: string; streaming: boolean }> }).__spoken,
    );
    expect(spoken.map((entry) => entry.text)).toEqual([
      'This is the astron-chat demo model (a built-in demo, not a real LLM).',
      'You said: "Pi is 3.14 roughly.',
      '你好。"',
      'This is turn 1 of our conversation.',
    ]);
    // Handed over as each sentence completed, while the answer was still streaming.
    expect(spoken.slice(0, -1).every((entry) => entry.streaming)).toBe(true);
    await page.close();
  });

  it('runs a workflow with a live step timeline, then shows it in the usage chart and the run inspector', async () => {
    const page = await openPage();
    await signIn(page);
    await page.getByTestId('bot-select').selectOption('demo-workflow');
    await send(page, 'What is 2+3?');
    await waitStatus(page, 'succeeded');
    const steps = lastAnswer(page).getByTestId('workflow-step');
    const statuses = await steps.evaluateAll((items) =>
      Object.fromEntries(
        items.map((item) => [item.querySelector('.step-node')?.textContent, item.getAttribute('data-status')]),
      ),
    );
    expect(statuses).toMatchObject({
      start: 'succeeded',
      facts: 'succeeded',
      stats: 'succeeded',
      route: 'succeeded',
      answer: 'succeeded',
      echo: 'skipped',
      end: 'succeeded',
    });
    const runId = await runIdOf(page);
    if (screenshots) await page.screenshot({ path: path.join(screenshots, 'console-workflow.png') });

    await page.getByTestId('nav-operator').click();
    await page.getByTestId('operator-tab-usage').click();
    const chart = page.getByTestId('usage-chart');
    await expect.poll(async () => (await chart.getAttribute('data-groups')) ?? '').toContain('demo-workflow');
    expect(await chart.getByTestId('usage-bar').count()).toBeGreaterThan(0);
    await page.getByTestId('usage-by').selectOption('key');
    await expect.poll(async () => (await chart.getAttribute('data-groups')) ?? '').not.toContain('demo-workflow');
    expect(await chart.getByTestId('usage-bar').count()).toBeGreaterThan(0);
    await page.getByTestId('usage-by').selectOption('bot');
    if (screenshots) await page.screenshot({ path: path.join(screenshots, 'console-usage.png') });

    await page.getByTestId('operator-tab-runs').click();
    await expect.poll(() => page.getByTestId('runs-list').locator('tr[data-run-id]').count()).toBeGreaterThan(0);
    // Other test files add runs to the shared demo app: open this one by its link, as a person would share it.
    await page.goto(`${server.url}/operator?tab=runs&run=${runId}`);
    const inspector = page.getByTestId('run-inspector');
    await expect.poll(() => inspector.getAttribute('data-status')).toBe('succeeded');
    const bars = inspector.getByTestId('node-run-bar');
    const barStatuses = await bars.evaluateAll((items) =>
      Object.fromEntries(items.map((item) => [item.getAttribute('data-node'), item.getAttribute('data-status')])),
    );
    expect(barStatuses).toMatchObject({ start: 'succeeded', answer: 'succeeded', end: 'succeeded' });
    expect(await bars.count()).toBeGreaterThanOrEqual(6);
    if (screenshots) await page.screenshot({ path: path.join(screenshots, 'console-run.png'), fullPage: true });
    await page.close();
  });

  it('shows a bot definition error at its exact path before saving, then saves the fixed definition', async () => {
    const page = await openPage({ url: `${server.url}/operator` });
    await signIn(page);
    await page.getByTestId('operator-tab-bots').click();
    await page.getByTestId('admin-bots').getByText('+ New bot').click();
    const botId = `console-bot-${Math.random().toString(36).slice(2, 8)}`;
    await page.getByPlaceholder('bot id').fill(botId);
    const editor = page.getByTestId('bot-editor');
    const broken = { kind: 'chat', model: { provider: 'demo' }, systemPrompt: 'Be brief.', history: { maxTurns: -1 } };
    await editor.fill(JSON.stringify(broken, null, 2));
    await expect
      .poll(() => page.getByTestId('bot-editor-error').innerText())
      .toMatch(/^definition\.history\.maxTurns: /);
    expect(await page.getByTestId('bot-save').isDisabled()).toBe(true);
    await editor.fill('{ "kind": "chat", ');
    await expect.poll(() => page.getByTestId('bot-editor-error').innerText()).toMatch(/^JSON: /);
    await editor.fill(JSON.stringify({ ...broken, history: { maxTurns: 5 } }, null, 2));
    expect(await page.getByTestId('bot-editor-error').count()).toBe(0);
    await page.getByTestId('bot-save').click();
    await expect.poll(() => page.getByTestId('admin-bots').innerText()).toContain(`Saved ${botId} as version 1.`);
    await expect.poll(() => page.getByTestId('bot-versions').locator('li').count()).toBe(1);
    // The saved bot answers in the chat.
    const response = await fetch(`${server.url}/v1/models`, { headers: { authorization: 'Bearer sk-demo' } });
    expect(((await response.json()) as { data: Array<{ id: string }> }).data.map((model) => model.id)).toContain(botId);
    await page.close();
  });

  it('lets the operator create an app (key and secret shown once), disable and enable it, and manage its keys', async () => {
    const page = await openPage({ url: `${server.url}/operator` });
    await signIn(page);
    const apps = page.getByTestId('admin-apps');
    const appId = `console-app-${Math.random().toString(36).slice(2, 8)}`;
    await apps.getByPlaceholder('new app id').fill(appId);
    await apps.getByText('Create app').click();
    const shown = page.getByTestId('shown-once');
    await expect.poll(() => shown.innerText()).toContain('shown only once');
    const apiKey = /API key: (\S+)/.exec(await shown.innerText())?.[1] ?? '';
    expect(apiKey.length).toBeGreaterThan(16);
    await shown.getByText('Done').click();
    expect(await page.getByTestId('shown-once').count()).toBe(0);

    const row = apps.locator(`tr[data-app-id="${appId}"]`);
    await row.getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => row.innerText()).toContain('disabled');
    const refused = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(refused.status).toBe(403);
    await row.getByRole('button', { name: 'Enable' }).click();
    await expect.poll(() => row.innerText()).toContain('active');
    await expect
      .poll(
        async () => (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } })).status,
      )
      .toBe(200);

    // Its keys: a second one is shown once, then revoked.
    await row.getByRole('button', { name: appId }).click();
    await apps.getByPlaceholder('key name').fill('ci');
    await apps.getByText('Create key').click();
    await expect.poll(() => page.getByTestId('shown-once').innerText()).toContain('API key');
    const keys = page.getByTestId('admin-keys');
    await expect.poll(() => keys.locator('tr').count()).toBe(2);
    await keys.locator('tr', { hasText: 'ci' }).getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => keys.locator('tr', { hasText: 'ci' }).innerText()).toContain('revoked');
    await page.getByTestId('admin-secrets').waitFor();
    expect(await page.getByTestId('admin-secrets').locator('tr').count()).toBe(1);
    await page.close();
  });

  it('lets the operator create, list (key by its last 4 only), update and delete a model provider', async () => {
    // On the server with a database of its own: the list holds the demo and this provider only.
    const page = await openPage({ url: `${fastServer.url}/operator` });
    // Every body the page receives, to show the key never comes back.
    const received: Array<Promise<string>> = [];
    page.on('response', (response) => received.push(response.text().catch(() => '')));
    await signIn(page);
    await page.getByTestId('operator-tab-providers').click();
    const panel = page.getByTestId('admin-providers');
    await expect.poll(() => panel.locator('tr[data-provider-id="demo"]').innerText()).toContain('built-in');

    const id = `console-prov-${Math.random().toString(36).slice(2, 8)}`;
    const key = `sk-console-${Math.random().toString(36).slice(2, 10)}-LAST`;
    const field = (name: string) => page.getByTestId(`provider-field-${name}`);
    await page.getByTestId('provider-new').click();
    await field('id').fill(id);
    await field('baseUrl').fill('ftp://not-http');
    await field('apiKey').fill(key);
    await field('headers').fill('X-Team: blue-header-value');
    await field('defaultModel').fill('m-1');
    await field('timeoutMs').fill('4000');
    await field('connectTimeoutMs').fill('1000');
    await field('maxConcurrency').fill('3');
    await field('allowedApps').fill('demo-app');
    await page.getByTestId('provider-save').click();
    // The server's refusal, at the field it is about.
    await expect
      .poll(() => page.getByTestId('provider-error-baseUrl').innerText())
      .toBe('baseUrl: must be an http(s) URL');
    await field('baseUrl').fill('http://127.0.0.1:9/v1');
    await page.getByTestId('provider-save').click();
    await expect.poll(() => page.getByTestId('provider-saved').innerText()).toBe(`Saved ${id}.`);

    const row = panel.locator(`tr[data-provider-id="${id}"]`);
    // Its cells but the last (the buttons).
    const cells = async () =>
      (await row.locator('td').allInnerTexts()).slice(0, -1).map((text) => text.replace(/\s+/g, ' ').trim());
    await expect
      .poll(cells)
      .toEqual([
        id,
        'openai-compatible',
        'http://127.0.0.1:9/v1',
        '…LAST',
        'x-team',
        'request 4000 ms connect 1000 ms',
        '3',
        'demo-app',
        'm-1',
      ]);

    // An update with the key left empty keeps it; a field the server refuses is marked.
    await row.getByTestId('provider-edit').click();
    expect(await field('apiKey').getAttribute('placeholder')).toBe('leave empty to keep …LAST');
    expect(await field('apiKey').inputValue()).toBe('');
    await field('maxConcurrency').fill('0');
    await page.getByTestId('provider-save').click();
    await expect.poll(() => page.getByTestId('provider-error-maxConcurrency').innerText()).toMatch(/^maxConcurrency: /);
    if (screenshots) await page.screenshot({ path: path.join(screenshots, 'console-providers.png') });
    await field('maxConcurrency').fill('5');
    expect(await page.getByTestId('provider-error-maxConcurrency').count()).toBe(0);
    await field('timeoutMs').fill('5000');
    await page.getByTestId('provider-save').click();
    await expect.poll(cells).toContain('request 5000 ms connect 1000 ms');
    expect(await cells()).toContain('…LAST');
    expect(await cells()).toContain('5');
    // Then rotated.
    await row.getByTestId('provider-edit').click();
    const rotated = `sk-rotated-${Math.random().toString(36).slice(2, 10)}-NEWK`;
    await field('apiKey').fill(rotated);
    await page.getByTestId('provider-save').click();
    await expect.poll(cells).toContain('…NEWK');

    // A provider a bot still names is not deleted: the page says which bot.
    const admin = createAdminClient({ url: fastServer.url, adminToken: 'demo-admin-token' });
    const botId = `uses-${id}`;
    await admin.admin.bots.create.mutate({
      appId: 'demo-app',
      botId,
      definition: { kind: 'chat', model: { provider: 'demo', fallbacks: [{ provider: id }] } },
    });
    await row.getByTestId('provider-delete').click();
    await row.getByTestId('provider-delete-confirm').click();
    await expect
      .poll(() => page.getByTestId('provider-delete-error').innerText())
      .toBe(
        `Provider "${id}" is still named by 1 bot: demo-app/${botId} (definition.model.fallbacks.0). ` +
          'Point them at another provider (or delete them), then delete it.',
      );
    expect(await row.count()).toBe(1);
    await admin.admin.bots.delete.mutate({ appId: 'demo-app', botId });
    await row.getByTestId('provider-delete-confirm').click();
    await expect.poll(() => row.count()).toBe(0);
    expect(await page.getByTestId('provider-delete-error').count()).toBe(0);

    // Neither key was ever in the page or in anything the server sent it.
    const html = await page.content();
    const bodies = (await Promise.all(received)).join('\n');
    for (const secret of [key, rotated, 'blue-header-value']) {
      expect(html).not.toContain(secret);
      expect(bodies).not.toContain(secret);
    }
    expect(bodies).toContain('NEWK');
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
    await page.close();
  });

  it('renders a 5,000-delta answer without a main-thread task over 50 ms', async () => {
    const page = await openPage({
      url: fastServer.url,
      initScript: `
        window.__longTasks = [];
        new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
        }).observe({ type: 'longtask', buffered: true });
        window.__mutationBatches = 0;
        new MutationObserver(() => (window.__mutationBatches += 1)).observe(document, {
          subtree: true,
          childList: true,
          characterData: true,
        });
      `,
    });
    await signIn(page);
    await expect.poll(() => page.getByTestId('bot-select').inputValue()).toBe('demo-bot');
    const words = Array.from({ length: 4_980 }, (_, index) => `w${index}`).join(' ');
    await page.getByTestId('chat-input').fill(words);
    // From the click on: the question's own rendering and the whole streamed answer.
    await page.evaluate(() => {
      const scope = window as unknown as { __longTasks: number[]; __mutationBatches: number };
      scope.__longTasks.length = 0;
      scope.__mutationBatches = 0;
    });
    await page.getByTestId('chat-send').click();
    await expect.poll(() => lastAnswer(page).getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
    expect(await answerText(page)).toBe(demoAnswer(words));
    const { longTasks, mutationBatches } = await page.evaluate(() => {
      const scope = window as unknown as { __longTasks: number[]; __mutationBatches: number };
      return { longTasks: scope.__longTasks, mutationBatches: scope.__mutationBatches };
    });
    const longest = Math.max(0, ...longTasks);
    console.info(
      `5,000-delta answer: ${mutationBatches} DOM updates, ${longTasks.length} tasks over 50 ms, longest ${longest.toFixed(0)} ms`,
    );
    // Batched per animation frame: far fewer DOM updates than deltas.
    expect(mutationBatches).toBeLessThan(1_000);
    // Task lengths are wall-clock time: on a machine running several times more work than it has
    // cores they measure the queue for the CPU, not the page. Checked when the machine is not overloaded.
    const load = (os.loadavg()[0] ?? 0) / os.cpus().length;
    if (load < 1.5) expect(longTasks.filter((duration) => duration > 50)).toEqual([]);
    else console.info(`(load ${load.toFixed(1)} per core: the 50 ms bound is reported, not asserted)`);
    await page.close();
  }, 90_000);
});
