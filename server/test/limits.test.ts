import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryLimiter, createRedisLimiter, type Limiter } from '../src/cache/rate-limiter.ts';
import { createAdmission } from '../src/chat/admission.ts';
import { testBackends } from './support/backends.ts';
import { postJson } from './support/sse.ts';
import { createTenant } from './support/tenants.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const redisUrl = testBackends().find((backend) => backend.redisUrl)?.redisUrl;
const limiters: Array<[string, () => Limiter]> = [
  ['memory', () => createMemoryLimiter()],
  ...(redisUrl
    ? [['redis', () => createRedisLimiter(redisUrl, { slotTtlMs: 60_000 })] as [string, () => Limiter]]
    : []),
];

// One contract for every Limiter implementation.
describe.each(limiters)('limiter on %s', (_name, open) => {
  const limiter = open();
  afterAll(() => limiter.close());

  it('lets a bucket spend its capacity, then says when to come back', async () => {
    const key = `test:${randomUUID()}`;
    const bucket = { capacity: 3, perMinute: 60 };
    const answers = [];
    for (let index = 0; index < 4; index += 1) answers.push(await limiter.take(key, bucket));
    expect(answers.slice(0, 3).every((answer) => answer.allowed)).toBe(true);
    expect(answers[3]).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it('counts concurrent holders up to the limit and frees a slot on release', async () => {
    const key = `test:${randomUUID()}`;
    const first = await limiter.acquire(key, 2);
    const second = await limiter.acquire(key, 2);
    expect([first.acquired, second.acquired, (await limiter.acquire(key, 2)).acquired]).toEqual([true, true, false]);
    await first.release();
    await first.release();
    expect((await limiter.acquire(key, 2)).acquired).toBe(true);
    expect((await limiter.acquire(key, 2)).acquired).toBe(false);
  });

  it('admission: a run refused by a rate limit does not keep the app concurrency slot it was checked for', async () => {
    const admission = createAdmission({
      limiter,
      limits: { appPerMinute: 100, keyPerMinute: 1, concurrentRunsPerApp: 1, activeRunsPerInstance: 10 },
    });
    const appId = `app-${randomUUID()}`;
    const context = (apiKeyId: string) => ({ appId, apiKeyId, requestId: 'r', transport: 'openai' as const });
    const release = await admission.admit(context('key-a'));
    await release();
    // key-a has spent its one run a minute; the app's one slot is free and must stay free.
    await expect(admission.admit(context('key-a'))).rejects.toMatchObject({ errorName: 'RATE_LIMIT_ERROR' });
    const next = await admission.admit(context('key-b'));
    await expect(admission.admit(context('key-c'))).rejects.toThrow(/already has 1 runs going/);
    await next();
  });
});

describe.each(testBackends())('limits on $name', (backend) => {
  const servers: TestApp[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });
  const start = async (env: Record<string, string>) => {
    const server = await startTestApp(backend, { env });
    servers.push(server);
    const tenant = await createTenant(server.url, 'limited');
    const ask = (path = '/agent/v1/chat/completions') =>
      postJson(
        `${server.url}${path}`,
        path.startsWith('/v1')
          ? { model: tenant.botId, messages: [{ role: 'user', content: 'hi' }] }
          : { bot_id: tenant.botId, uid: 'u', parameters: { messages: [{ role: 'user', content: 'hi' }] } },
        { authorization: `Bearer ${tenant.apiKey}` },
      );
    return { server, ask };
  };

  it('answers 429 with Retry-After and code 1003 past the app rate limit, on every REST route', async () => {
    const { ask } = await start({ RATE_LIMIT_APP_PER_MINUTE: '2' });
    expect((await ask()).status).toBe(200);
    expect((await ask('/v1/chat/completions')).status).toBe(200);
    const refused = await ask();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({
      code: 1003,
      message: expect.stringMatching(/2 runs a minute per app/),
    });
    const openai = await ask('/v1/chat/completions');
    expect(openai.status).toBe(429);
    expect(((await openai.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
  });

  it("refuses an app's run past its concurrency limit until one ends", async () => {
    const { ask } = await start({ MAX_CONCURRENT_RUNS_PER_APP: '1', DEMO_MODEL_DELAY_MS: '20' });
    const first = ask();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await ask();
    expect(second.status).toBe(429);
    expect(await second.json()).toMatchObject({
      code: 1003,
      message: expect.stringMatching(/already has 1 runs going/),
    });
    expect((await first).status).toBe(200);
    expect((await ask()).status).toBe(200);
  });

  it('answers 503 with code 1010 when the instance runs its maximum, instead of queueing', async () => {
    const { ask } = await start({ MAX_ACTIVE_RUNS: '1', DEMO_MODEL_DELAY_MS: '20' });
    const first = ask();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await ask();
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(await second.json()).toMatchObject({ code: 1010 });
    expect((await first).status).toBe(200);
  });
});
