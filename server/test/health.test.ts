import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, hasRedisServer, startRedis } from './support/child-services.ts';
import { eventually } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

if (process.env.CI && !hasRedisServer) throw new Error('CI must have redis-server: the readiness test runs its own.');

type Ready = { status: string; failing?: string[]; message?: string; checks: Record<string, { status: string }> };

describe('health probes', () => {
  const closing: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const close of closing.reverse()) await close();
  });

  it('embedded: live, ready and /health with a timestamp', async () => {
    const server = await startTestApp({ name: 'sqlite', databaseUrl: undefined, redisUrl: undefined });
    closing.push(() => server.close());
    const live = await fetch(`${server.url}/health/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: 'live' });
    const ready = await fetch(`${server.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: {
        database: { status: 'up' },
        cache: { kind: 'memory', status: 'up' },
        'provider:demo': { status: 'up' },
      },
    });
    const health = (await (await fetch(`${server.url}/health`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', demoMode: true });
    expect(Date.parse(String(health.timestamp))).toBeGreaterThan(Date.now() - 60_000);
  });

  it.runIf(hasRedisServer)(
    '/health/ready is 503 naming Redis while it is stopped, and 200 once it is back',
    async () => {
      const port = await freePort();
      let redis: ChildProcess = await startRedis(port);
      closing.push(() => void redis.kill('SIGKILL'));
      const app: TestApp = await startTestApp({
        name: 'sqlite',
        databaseUrl: undefined,
        redisUrl: `redis://127.0.0.1:${port}/0`,
      });
      closing.push(() => app.close());
      const ready = async () => {
        const response = await fetch(`${app.url}/health/ready`);
        return { status: response.status, body: (await response.json()) as Ready };
      };
      expect((await ready()).status).toBe(200);

      redis.kill('SIGKILL');
      const down = await eventually(async () => {
        const answer = await ready();
        return answer.status === 503 ? answer : undefined;
      }, 10_000);
      expect(down.body.status).toBe('not_ready');
      expect(down.body.failing).toEqual(['cache']);
      expect(down.body.message).toMatch(/^Not ready: cache \(/);
      // /health says the same with its own shape, and the process is still live.
      expect((await fetch(`${app.url}/health`)).status).toBe(503);
      expect((await fetch(`${app.url}/health/live`)).status).toBe(200);

      redis = await startRedis(port);
      const up = await eventually(async () => {
        const answer = await ready();
        return answer.status === 200 ? answer : undefined;
      }, 15_000);
      expect(up.body).toMatchObject({ status: 'ready', checks: { cache: { status: 'up' } } });
    },
    40_000,
  );
});
