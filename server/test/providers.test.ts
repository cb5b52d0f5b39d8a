import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createAdminClient } from '@astron-chat/client';
import { createPool } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ADMIN_TOKEN } from '../src/config/config.ts';
import { testBackends } from './support/backends.ts';
import { startFakeUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { eventually, postJson, readSse } from './support/sse.ts';
import { createTenant, type Tenant } from './support/tenants.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const run = promisify(execFile);
// The CLI from its source, as `npm run astron-chat` runs it (the published bin is the built dist/cli.js).
const cliPath = fileURLToPath(new URL('../../client/src/cli.ts', import.meta.url));
const suffix = Math.random().toString(36).slice(2, 8);

type Frame = Record<string, any>;

describe.each(testBackends())('model providers on $name', (backend) => {
  let server: TestApp;
  let primary: FakeUpstream;
  let backup: FakeUpstream;
  let tenant: Tenant;
  const admin = () => createAdminClient({ url: server.url, adminToken: DEMO_ADMIN_TOKEN });
  const cli = async (...args: string[]) => {
    const { stdout } = await run(process.execPath, [
      '--conditions=astron-source',
      '--import',
      'tsx',
      cliPath,
      '--url',
      server.url,
      '--admin-token',
      DEMO_ADMIN_TOKEN,
      ...args,
    ]);
    return JSON.parse(stdout) as Record<string, any>;
  };
  const ask = async (botId: string, question = 'hi') => {
    const response = await postJson(
      `${server.url}/agent/v1/chat/completions`,
      { bot_id: botId, uid: 'u', stream: true, parameters: { messages: [{ role: 'user', content: question }] } },
      { authorization: `Bearer ${tenant.apiKey}` },
    );
    return (await readSse(response)).data.filter((line) => line !== '[DONE]').map((line) => JSON.parse(line) as Frame);
  };
  const readRun = (runId: string) =>
    eventually(async () => {
      const response = await fetch(`${server.url}/agent/v1/runs/${runId}`, {
        headers: { authorization: `Bearer ${tenant.apiKey}` },
      });
      const body = (await response.json()) as Frame;
      return body.code === 0 ? body : undefined;
    });
  const textOf = (frames: Frame[]) => frames.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('');
  /** A chat bot on `provider` with `fallbacks`, saved through the admin API (so it is checked). */
  const chatBot = async (name: string, model: Record<string, unknown>) => {
    const botId = `${name}-${suffix}`;
    await admin().admin.bots.create.mutate({ appId: tenant.appId, botId, definition: { kind: 'chat', model } });
    return botId;
  };

  beforeAll(async () => {
    primary = await startFakeUpstream();
    backup = await startFakeUpstream({ chunks: ['from', ' backup'] });
    server = await startTestApp(backend, { overrides: { retryDelayScale: 0.01 } });
    tenant = await createTenant(server.url, 'prov');
    await admin().admin.providers.create.mutate({
      id: `primary-${suffix}`,
      baseUrl: primary.baseUrl,
      apiKey: `sk-primary-${suffix}-A1b2`,
      headers: { 'X-Org': `org-${suffix}` },
      defaultModel: 'fake-model',
      connectTimeoutMs: 2_000,
      timeoutMs: 5_000,
    });
    await admin().admin.providers.create.mutate({
      id: `backup-${suffix}`,
      baseUrl: backup.baseUrl,
      defaultModel: 'b-model',
    });
  });
  afterAll(async () => {
    await server.close();
    await primary.close();
    await backup.close();
  });

  it('are created, read, updated and deleted through admin tRPC; reads show only the last 4 characters of a key', async () => {
    const id = `crud-${suffix}`;
    const created = await admin().admin.providers.create.mutate({
      id,
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKey: 'sk-crud-secret-WXYZ',
      headers: { 'x-team': 'blue' },
      maxConcurrency: 3,
      allowedApps: [tenant.appId],
    });
    expect(created).toMatchObject({
      id,
      type: 'openai-compatible',
      source: 'store',
      apiKeyLast4: 'WXYZ',
      headerNames: ['x-team'],
      maxConcurrency: 3,
      allowedApps: [tenant.appId],
    });
    expect(JSON.stringify(created)).not.toContain('sk-crud-secret');
    expect(JSON.stringify(created)).not.toContain('blue');

    const list = await admin().admin.providers.list.query();
    expect(list.map((provider) => provider.id)).toEqual(expect.arrayContaining(['demo', id]));
    expect(list.find((provider) => provider.id === 'demo')).toMatchObject({ source: 'environment' });
    expect(JSON.stringify(list)).not.toContain('sk-crud-secret');

    // An update rotates the key and leaves the rest as it was.
    const updated = await admin().admin.providers.update.mutate({ id, apiKey: 'sk-rotated-9876', timeoutMs: 1_500 });
    expect(updated).toMatchObject({
      apiKeyLast4: '9876',
      timeoutMs: 1_500,
      maxConcurrency: 3,
      headerNames: ['x-team'],
    });
    expect(await admin().admin.providers.get.query({ id })).toMatchObject({ apiKeyLast4: '9876' });
    // A short key is not shown even in part.
    expect(await admin().admin.providers.update.mutate({ id, apiKey: 'short-key' })).toMatchObject({ apiKeyLast4: '' });

    await expect(admin().admin.providers.create.mutate({ id, baseUrl: 'http://127.0.0.1:9/v1' })).rejects.toMatchObject(
      {
        data: { appCode: 1001, param: 'id' },
      },
    );
    await expect(
      admin().admin.providers.create.mutate({ id: 'demo', baseUrl: 'http://127.0.0.1:9/v1' }),
    ).rejects.toMatchObject({ data: { appCode: 1001 } });
    await expect(admin().admin.providers.update.mutate({ id: 'demo', timeoutMs: 5 })).rejects.toMatchObject({
      data: { appCode: 1001 },
    });
    await expect(
      admin().admin.providers.create.mutate({ id: `bad-${suffix}`, baseUrl: 'ftp://x' }),
    ).rejects.toMatchObject({
      data: { appCode: 1001 },
    });

    await expect(admin().admin.providers.update.mutate({ id, timeout: 5 } as never)).rejects.toMatchObject({
      data: { appCode: 1001 },
    });
    expect(await admin().admin.providers.delete.mutate({ id })).toEqual({ id, deleted: true });
    await expect(admin().admin.providers.get.query({ id })).rejects.toMatchObject({ data: { appCode: 1008 } });
  });

  it('keep API keys, header values and app signing secrets encrypted at rest', async () => {
    const key = `sk-at-rest-${suffix}-QWER`;
    const header = `hdr-at-rest-${suffix}`;
    const id = `rest-${suffix}`;
    await admin().admin.providers.create.mutate({
      id,
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKey: key,
      headers: { 'x-secret-header': header },
    });
    const created = await admin().admin.apps.create.mutate({ id: `rest-app-${suffix}` });
    if (backend.databaseUrl) {
      const pool = createPool(backend.databaseUrl);
      try {
        const [rows] = await pool.query('SELECT * FROM providers WHERE id = ?', [id]);
        const row = (rows as Array<Record<string, unknown>>)[0]!;
        expect(String(row.api_key)).toMatch(/^enc:v1:/);
        expect(JSON.stringify(row)).not.toContain(key);
        expect(JSON.stringify(row)).not.toContain(header);
        const [secrets] = await pool.query('SELECT secret FROM app_secrets WHERE app_id = ?', [created.id]);
        const secretRow = (secrets as Array<{ secret: string }>)[0]!;
        expect(secretRow.secret).toMatch(/^enc:v1:/);
        expect(secretRow.secret).not.toContain(created.secret);
      } finally {
        await pool.end();
      }
    } else {
      const file = server.app.dependencies.config.sqlitePath;
      const bytes = Buffer.concat(
        [file, `${file}-wal`].filter((path) => existsSync(path)).map((path) => readFileSync(path)),
      );
      expect(bytes.includes(Buffer.from(id))).toBe(true); // the row is there…
      expect(bytes.includes(Buffer.from(key))).toBe(false); // …its key is not, in clear
      expect(bytes.includes(Buffer.from(header))).toBe(false);
      expect(bytes.includes(Buffer.from(created.secret))).toBe(false);
    }
    await admin().admin.providers.delete.mutate({ id });

    // A provider's key and headers reach the upstream, decrypted.
    const botId = await chatBot('keyed', { provider: `primary-${suffix}` });
    const before = primary.requestHeaders.length;
    expect(textOf(await ask(botId))).toBe('Hello from upstream');
    const headers = primary.requestHeaders[before]!;
    expect(headers.authorization).toBe(`Bearer sk-primary-${suffix}-A1b2`);
    expect(headers['x-org']).toBe(`org-${suffix}`);
  });

  it('refuse a bot naming an unknown provider, or a model its provider does not list, with 1001 at the exact path', async () => {
    const save = (definition: unknown) =>
      admin().admin.bots.create.mutate({ appId: tenant.appId, botId: `checked-${suffix}`, definition });
    const refused = await save({ kind: 'chat', model: { provider: 'nope' } }).catch((error: any) => error);
    expect(refused.data).toMatchObject({ appCode: 1001, param: 'definition.model.provider' });
    expect(refused.message).toContain('demo');
    expect(refused.message).toContain(`backup-${suffix}`);

    const inWorkflow = await save({
      kind: 'workflow',
      nodes: [
        { id: 'start', type: 'start' },
        { id: 'a', type: 'template', template: 'x' },
        { id: 'b', type: 'template', template: 'y' },
        { id: 'ask', type: 'llm', model: { provider: 'demo', fallbacks: [{ provider: 'gone' }] }, prompt: 'q' },
        { id: 'end', type: 'end', template: '{{ask.text}}' },
      ],
      edges: [
        { source: 'start', target: 'a' },
        { source: 'a', target: 'b' },
        { source: 'b', target: 'ask' },
        { source: 'ask', target: 'end' },
      ],
    }).catch((error: any) => error);
    expect(inWorkflow.data).toMatchObject({ appCode: 1001, param: 'definition.nodes.3.model.fallbacks.0.provider' });

    // A provider that lists its models: a model it does not list is refused, one it lists is saved.
    backup.models = ['b-model', 'b-large'];
    const unlisted = await save({ kind: 'chat', model: { provider: `backup-${suffix}`, name: 'b-huge' } }).catch(
      (error: any) => error,
    );
    expect(unlisted.data).toMatchObject({ appCode: 1001, param: 'definition.model.name' });
    expect(unlisted.message).toContain('b-large');
    await expect(
      save({ kind: 'chat', model: { provider: `backup-${suffix}`, name: 'b-large' } }),
    ).resolves.toMatchObject({ version: 1 });
    backup.models = undefined;

    // The CLI reports the same refusal.
    await expect(
      cli(
        'admin',
        'bots',
        'create',
        tenant.appId,
        `cli-bad-${suffix}`,
        '--definition',
        '{"kind":"chat","model":{"provider":"nope"}}',
      ),
    ).rejects.toMatchObject({ stderr: expect.stringContaining('definition.model.provider') });
  });

  it('retry a 429 after its Retry-After, a 500 and a reset before the first byte, on the same provider', async () => {
    const botId = await chatBot('retry', {
      provider: `primary-${suffix}`,
      fallbacks: [{ provider: `backup-${suffix}` }],
    });
    const start = primary.requests.length;
    primary.queue = [
      { status: 429, retryAfter: '1' },
      { status: 500 },
      { resetBeforeHeaders: true },
      { chunks: ['third', ' time'] },
    ];
    const startedAt = Date.now();
    const frames = await ask(botId);
    expect(textOf(frames)).toBe('third time');
    expect(frames.at(-1)).toMatchObject({ code: 0 });
    expect(primary.requests.length - start).toBe(4);
    // The 429 asked for a second; that wait is not scaled by the test's retry-delay seam.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(950);
    const record = await readRun(frames[0]!.id);
    expect(record.provider).toBe(`primary-${suffix}`);
  });

  it('move to the fallback after the retries, and never retry once a token has streamed', async () => {
    const botId = await chatBot('fallback', {
      provider: `primary-${suffix}`,
      fallbacks: [{ provider: `backup-${suffix}` }],
    });
    let start = primary.requests.length;
    const backupStart = backup.requests.length;
    primary.queue = [{ status: 500 }, { status: 502 }, { status: 500 }, { status: 504 }];
    const frames = await ask(botId);
    expect(textOf(frames)).toBe('from backup');
    // 5xx are network-class: 3 retries, so four tries in all before the fallback.
    expect(primary.requests.length - start).toBe(4);
    expect(backup.requests.length - backupStart).toBe(1);
    expect(backup.requests.at(-1)).toMatchObject({ model: 'b-model' });
    expect((await readRun(frames[0]!.id)).provider).toBe(`backup-${suffix}`);
    primary.queue = [];

    // A reset after the first token: the caller already has output, so no retry and no fallback.
    start = primary.requests.length;
    const backupBefore = backup.requests.length;
    primary.queue = [{ chunks: ['partial', ' answer', ' cut'], dropAfter: 1, delayMs: 30 }];
    const cut = await ask(botId);
    expect(textOf(cut)).toBe('partial');
    // (Which code a reset mid-stream maps to is providers/provider-error.ts's business; it is an error.)
    expect(cut.at(-1)?.code).toBeGreaterThan(1000);
    expect(primary.requests.length - start).toBe(1);
    expect(backup.requests.length).toBe(backupBefore);

    // A business error (400) is not retried, nor sent to the fallback.
    start = primary.requests.length;
    primary.queue = [{ status: 400 }];
    const refused = await ask(botId);
    expect(refused.at(-1)).toMatchObject({ code: 1009 });
    expect(primary.requests.length - start).toBe(1);
    expect(backup.requests.length).toBe(backupBefore);
  });

  it('serve a changed provider on the next call, on this instance and (with Redis) on another one', async () => {
    const id = `moving-${suffix}`;
    const other = await startFakeUpstream({ chunks: ['moved'] });
    const second = backend.redisUrl ? await startTestApp(backend, { overrides: { retryDelayScale: 0.01 } }) : undefined;
    try {
      await admin().admin.providers.create.mutate({ id, baseUrl: primary.baseUrl, defaultModel: 'fake-model' });
      const botId = await chatBot('moving', { provider: id });
      const askOn = async (url: string) => {
        const response = await postJson(
          `${url}/agent/v1/chat/completions`,
          { bot_id: botId, uid: 'u', stream: true, parameters: { messages: [{ role: 'user', content: 'q' }] } },
          { authorization: `Bearer ${tenant.apiKey}` },
        );
        return textOf(
          (await readSse(response)).data.filter((line) => line !== '[DONE]').map((line) => JSON.parse(line)),
        );
      };
      expect(await askOn(server.url)).toBe('Hello from upstream');
      if (second) expect(await askOn(second.url)).toBe('Hello from upstream');
      await admin().admin.providers.update.mutate({ id, baseUrl: other.baseUrl });
      expect(await askOn(server.url)).toBe('moved');
      // The other instance learns of it through the shared cache, with no restart.
      if (second) expect(await askOn(second.url)).toBe('moved');
      await admin().admin.bots.delete.mutate({ appId: tenant.appId, botId });
      await admin().admin.providers.delete.mutate({ id });
    } finally {
      await second?.close();
      await other.close();
    }
  });

  it("send a call past a provider's concurrency cap to its fallback", async () => {
    const capped = `capped-${suffix}`;
    await admin().admin.providers.create.mutate({
      id: capped,
      baseUrl: primary.baseUrl,
      defaultModel: 'fake-model',
      maxConcurrency: 1,
    });
    const botId = await chatBot('capped', { provider: capped, fallbacks: [{ provider: `backup-${suffix}` }] });
    primary.queue = [{ chunks: ['slow', ' one'], delayMs: 400 }];
    const [first, second] = await Promise.all([
      ask(botId),
      new Promise((resolve) => setTimeout(resolve, 150)).then(() => ask(botId)),
    ]);
    expect(textOf(first)).toBe('slow one');
    expect(textOf(second)).toBe('from backup');
    expect((await readRun(second[0]!.id)).provider).toBe(`backup-${suffix}`);
    await admin().admin.bots.delete.mutate({ appId: tenant.appId, botId });
    await admin().admin.providers.delete.mutate({ id: capped });
  });

  it('give workflow llm nodes and agents the same retries and fallbacks', async () => {
    const model = { provider: `primary-${suffix}`, fallbacks: [{ provider: `backup-${suffix}` }] };
    const workflowId = `wf-${suffix}`;
    await admin().admin.bots.create.mutate({
      appId: tenant.appId,
      botId: workflowId,
      definition: {
        kind: 'workflow',
        nodes: [
          { id: 'start', type: 'start' },
          { id: 'ask', type: 'llm', model, prompt: '{{start.query}}' },
          { id: 'end', type: 'end', template: '{{ask.text}}' },
        ],
        edges: [
          { source: 'start', target: 'ask' },
          { source: 'ask', target: 'end' },
        ],
      },
    });
    const agentId = `agent-${suffix}`;
    await admin().admin.bots.create.mutate({
      appId: tenant.appId,
      botId: agentId,
      definition: { kind: 'agent', model, tools: [] },
    });
    for (const botId of [workflowId, agentId]) {
      const start = primary.requests.length;
      primary.queue = [{ status: 500 }, { resetBeforeHeaders: true }, { status: 502 }, { status: 500 }];
      const frames = await ask(botId);
      expect(textOf(frames)).toBe('from backup');
      expect(primary.requests.length - start).toBe(4);
      expect((await readRun(frames[0]!.id)).provider).toBe(`backup-${suffix}`);
    }
    primary.queue = [];
  });

  it('time out a provider that sends no first byte within its timeoutMs, and go to the fallback', async () => {
    const slow = `slow-${suffix}`;
    await admin().admin.providers.create.mutate({
      id: slow,
      baseUrl: primary.baseUrl,
      defaultModel: 'fake-model',
      timeoutMs: 150,
    });
    const botId = await chatBot('slow', { provider: slow, fallbacks: [{ provider: `backup-${suffix}` }] });
    const start = primary.requests.length;
    // Far past the timeout: undici's timers are coarse, and a loaded machine fires them late.
    primary.queue = Array.from({ length: 4 }, () => ({ headerDelayMs: 5_000, chunks: ['too late'] }));
    const frames = await ask(botId);
    expect(textOf(frames)).toBe('from backup');
    expect((await readRun(frames[0]!.id)).provider).toBe(`backup-${suffix}`);
    // Tried, retried, given up on. (Not an exact count: on a loaded machine a try can time out before
    // the fake has read its whole body, and the fake counts requests by body.)
    expect(primary.requests.length - start).toBeGreaterThanOrEqual(1);
    expect(primary.requests.length - start).toBeLessThanOrEqual(4);
    primary.queue = [];
    await admin().admin.bots.delete.mutate({ appId: tenant.appId, botId });
    await admin().admin.providers.delete.mutate({ id: slow });
  });

  it('refuse to delete a provider the current version of a bot still names, naming those bots, through tRPC and the CLI', async () => {
    const id = `named-${suffix}`;
    await admin().admin.providers.create.mutate({ id, baseUrl: primary.baseUrl, defaultModel: 'fake-model' });
    // Another app's workflow names it in an llm node; this app's chat bot as a fallback.
    const other = await createTenant(server.url, 'prov-other');
    const fallbackBot = await chatBot('named-fallback', {
      provider: `backup-${suffix}`,
      fallbacks: [{ provider: id }],
    });
    const workflowBot = `named-wf-${suffix}`;
    await admin().admin.bots.create.mutate({
      appId: other.appId,
      botId: workflowBot,
      definition: {
        kind: 'workflow',
        nodes: [
          { id: 'start', type: 'start' },
          { id: 'ask', type: 'llm', model: { provider: id }, prompt: '{{start.query}}' },
          { id: 'end', type: 'end', template: '{{ask.text}}' },
        ],
        edges: [
          { source: 'start', target: 'ask' },
          { source: 'ask', target: 'end' },
        ],
      },
    });
    // A bot that only mentions the id (here as a model name) does not name the provider.
    const lookalike = await chatBot('named-lookalike', { provider: 'demo', name: id });

    const refused = await admin()
      .admin.providers.delete.mutate({ id })
      .catch((error: any) => error);
    expect(refused.data).toMatchObject({ appCode: 1001, param: 'id' });
    expect(refused.message).toContain('2 bots');
    expect(refused.message).toContain(`${tenant.appId}/${fallbackBot} (definition.model.fallbacks.0)`);
    expect(refused.message).toContain(`${other.appId}/${workflowBot} (definition.nodes.1.model)`);
    expect(refused.message).not.toContain(lookalike);
    // Still there, still answering.
    expect(await admin().admin.providers.get.query({ id })).toMatchObject({ id });

    // The CLI says the same, with the code.
    const fromCli = await cli('admin', 'providers', 'delete', id).catch((error: any) => error);
    expect(fromCli.stderr).toContain(`Provider "${id}" is still named by 2 bots`);
    expect(fromCli.stderr).toContain(workflowBot);
    expect(fromCli.stderr).toContain('(code 1001)');

    // Only the current version counts: once the chat bot moves on and the workflow is gone, it goes.
    await admin().admin.bots.update.mutate({
      appId: tenant.appId,
      botId: fallbackBot,
      definition: { kind: 'chat', model: { provider: `backup-${suffix}` } },
    });
    const still = await admin()
      .admin.providers.delete.mutate({ id })
      .catch((error: any) => error);
    expect(still.message).toContain('1 bot:');
    expect(still.message).not.toContain(fallbackBot);
    await admin().admin.bots.delete.mutate({ appId: other.appId, botId: workflowBot });
    expect(await cli('admin', 'providers', 'delete', id)).toEqual({ id, deleted: true });
  });

  it('GET /v1/models/{id} answers in the OpenAI shape, 404 with an OpenAI error body for an unknown id', async () => {
    const found = await fetch(`${server.url}/v1/models/${tenant.botId}`, {
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });
    expect(found.status).toBe(200);
    expect(await found.json()).toEqual({
      id: tenant.botId,
      object: 'model',
      created: expect.any(Number),
      owned_by: tenant.appId,
    });
    const missing = await fetch(`${server.url}/v1/models/no-such-bot`, {
      headers: { authorization: `Bearer ${tenant.apiKey}` },
    });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      error: { message: expect.stringContaining('no-such-bot'), type: 'not_found_error' },
    });
  });

  it('done when: two providers added with the CLI, a bot on one with the other as fallback, the first killed, the next run answered by the fallback', async () => {
    const first = await startFakeUpstream({ chunks: ['first', ' here'] });
    const second = await startFakeUpstream({ chunks: ['second', ' here'] });
    try {
      const one = `one-${suffix}`;
      const two = `two-${suffix}`;
      expect(
        await cli(
          'admin',
          'providers',
          'create',
          one,
          '--base-url',
          first.baseUrl,
          '--api-key',
          'sk-one-key-1234',
          '--header',
          'x-team:red',
          '--timeout-ms',
          '4000',
          '--connect-timeout-ms',
          '1000',
          '--max-concurrency',
          '8',
          '--default-model',
          'one-model',
        ),
      ).toMatchObject({
        id: one,
        apiKeyLast4: '1234',
        headerNames: ['x-team'],
        timeoutMs: 4000,
        connectTimeoutMs: 1000,
        maxConcurrency: 8,
      });
      await cli('admin', 'providers', 'create', two, '--base-url', second.baseUrl, '--default-model', 'two-model');
      expect(await cli('admin', 'providers', 'update', two, '--api-key', 'sk-two-key-5678')).toMatchObject({
        apiKeyLast4: '5678',
      });
      expect(await cli('admin', 'providers', 'get', one)).toMatchObject({ id: one, baseUrl: first.baseUrl });
      const listed = (await cli('admin', 'providers', 'list')) as unknown as Array<{ id: string }>;
      expect(listed.map((provider) => provider.id)).toEqual(expect.arrayContaining([one, two]));

      const botId = `done-${suffix}`;
      await cli(
        'admin',
        'bots',
        'create',
        tenant.appId,
        botId,
        '--definition',
        JSON.stringify({ kind: 'chat', model: { provider: one, fallbacks: [{ provider: two }] } }),
      );
      const before = await ask(botId);
      expect(textOf(before)).toBe('first here');
      expect((await readRun(before[0]!.id)).provider).toBe(one);

      await first.close();
      const after = await ask(botId);
      expect(textOf(after)).toBe('second here');
      expect(after.at(-1)).toMatchObject({ code: 0 });
      const record = await readRun(after[0]!.id);
      expect(record.provider).toBe(two);
      expect(second.requests.at(-1)).toMatchObject({ model: 'two-model' });
      expect(second.requestHeaders.at(-1)?.authorization).toBe('Bearer sk-two-key-5678');

      const usage = await fetch(`${server.url}/agent/v1/usage`, {
        headers: { authorization: `Bearer ${tenant.apiKey}` },
      });
      const days = ((await usage.json()) as { days: Array<Record<string, unknown>> }).days;
      expect(days).toEqual(
        expect.arrayContaining([expect.objectContaining({ bot_id: botId, provider: two, runs: 1 })]),
      );

      await cli('admin', 'bots', 'delete', tenant.appId, botId);
      expect(await cli('admin', 'providers', 'delete', one)).toEqual({ id: one, deleted: true });
      await cli('admin', 'providers', 'delete', two);
    } finally {
      await first.close().catch(() => undefined);
      await second.close();
    }
  }, 120_000);
});

describe('provider keys without SECRETS_KEY outside demo mode', () => {
  let server: TestApp;
  beforeAll(async () => {
    server = await startTestApp(
      { name: 'sqlite', databaseUrl: undefined, redisUrl: undefined },
      { env: { DEMO_MODE: '0', ADMIN_TOKEN: 'an-admin-token-for-tests' } },
    );
  });
  afterAll(async () => {
    await server.close();
  });

  it('are refused with a message naming SECRETS_KEY; a provider without a key is stored', async () => {
    const client = createAdminClient({ url: server.url, adminToken: 'an-admin-token-for-tests' });
    const refused = await client.admin.providers.create
      .mutate({ id: 'keyed', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-x' })
      .catch((error: any) => error);
    expect(refused.data).toMatchObject({ appCode: 1001, param: 'apiKey' });
    expect(refused.message).toContain('SECRETS_KEY');
    await expect(
      client.admin.providers.create.mutate({ id: 'open', baseUrl: 'http://127.0.0.1:9/v1' }),
    ).resolves.toMatchObject({
      id: 'open',
      apiKeyLast4: null,
    });
  });
});
