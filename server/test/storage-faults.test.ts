import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { postJson } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/** A TCP proxy to MySQL that the test can cut and restore, as a network fault would. */
async function startCuttableProxy(target: URL) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const open = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const backend = connect(Number(target.port || 3306), target.hostname);
        for (const socket of [client, backend]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => socket.destroy());
        }
        client.pipe(backend).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  await open();
  return {
    url: () => {
      const url = new URL(target.href);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.href;
    },
    cut: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server!.close(() => resolve());
      }),
    restore: open,
  };
}

const mysql = testBackends().find((backend) => backend.name === 'mysql');

describe.runIf(mysql)('MySQL going away during requests', () => {
  let proxy: Awaited<ReturnType<typeof startCuttableProxy>>;
  let server: TestApp;
  const ask = () =>
    postJson(
      `${server.url}/agent/v1/chat/completions`,
      { bot_id: 'demo-bot', uid: 'u', parameters: { messages: [{ role: 'user', content: 'hi' }] } },
      { authorization: 'Bearer sk-demo' },
    );

  beforeAll(async () => {
    proxy = await startCuttableProxy(new URL(mysql!.databaseUrl!));
    server = await startTestApp({ ...mysql!, databaseUrl: proxy.url(), redisUrl: undefined });
  });
  afterAll(async () => {
    await server.close();
    await proxy.cut();
  });

  it('fails requests with a clear retryable code while it is away, and serves again when it is back', async () => {
    expect((await ask()).status).toBe(200);
    await proxy.cut();
    const failed = await ask();
    // Credentials and the bot may still come from the cache; the run then cannot be saved.
    expect(failed.status).toBe(503);
    expect(await failed.json()).toMatchObject({ code: 1010, message: expect.stringMatching(/unreachable/) });
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(503);

    await proxy.restore();
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt += 1) {
      status = (await ask()).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
  });
});
