import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lookup } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpCaller, isPrivateAddress } from './http-call.ts';

let server: Server;
let origin = '';
let port = 0;

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/ok') return void response.end('{"fine":true}');
    if (request.url === '/redirect-out') {
      response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' });
      return void response.end();
    }
    if (request.url === '/redirect-in') {
      response.writeHead(302, { location: '/ok' });
      return void response.end();
    }
    if (request.url === '/big') return void response.end('x'.repeat(10_000));
    if (request.url === '/slow') return void setTimeout(() => response.end('late'), 2_000);
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const call = (url: string, more: Partial<Parameters<ReturnType<typeof createHttpCaller>['call']>[0]> = {}) => ({
  method: 'GET' as const,
  url,
  timeoutMs: 1_000,
  maxResponseBytes: 1_000,
  ...more,
});

describe('http calls for nodes and tools', () => {
  it('calls an allow-listed origin and follows redirects inside the allow-list', async () => {
    const caller = createHttpCaller({ allowlist: [origin], allowPrivateNetwork: false });
    const result = await caller.call(call(`${origin}/redirect-in`), new AbortController().signal);
    expect(result).toMatchObject({ status: 200, json: { fine: true } });
  });

  it('refuses origins off the list and redirects that leave it', async () => {
    const caller = createHttpCaller({ allowlist: [origin], allowPrivateNetwork: false });
    const signal = new AbortController().signal;
    await expect(caller.call(call('http://127.0.0.2:9/x'), signal)).rejects.toThrow(/not on the HTTP tool allow-list/);
    await expect(caller.call(call(`${origin}/redirect-out`), signal)).rejects.toThrow(
      /redirected to http:\/\/169\.254\.169\.254, which is not on the allow-list/,
    );
    await expect(caller.call(call('file:///etc/passwd'), signal)).rejects.toThrow(/not allowed/);
  });

  it('refuses allow-listed names that resolve to loopback (also through a rebinding resolver)', async () => {
    const localhost = createHttpCaller({ allowlist: [`http://localhost:${port}`], allowPrivateNetwork: false });
    await expect(localhost.call(call(`http://localhost:${port}/ok`), new AbortController().signal)).rejects.toThrow(
      /resolves to .*private or loopback/,
    );
    const rebinding = createHttpCaller({
      allowlist: [`http://api.example.test:${port}`],
      allowPrivateNetwork: false,
      lookup: ((_host: string, options: object, callback: (...args: unknown[]) => void) =>
        lookup('127.0.0.1', options, callback as never)) as unknown as typeof lookup,
    });
    await expect(
      rebinding.call(call(`http://api.example.test:${port}/ok`), new AbortController().signal),
    ).rejects.toThrow(/api\.example\.test resolves to 127\.0\.0\.1/);
    const allowed = createHttpCaller({ allowlist: [`http://localhost:${port}`], allowPrivateNetwork: true });
    expect((await allowed.call(call(`http://localhost:${port}/ok`), new AbortController().signal)).status).toBe(200);
  });

  it('cuts off large responses and slow servers', async () => {
    const caller = createHttpCaller({ allowlist: [origin], allowPrivateNetwork: false });
    const signal = new AbortController().signal;
    await expect(caller.call(call(`${origin}/big`), signal)).rejects.toThrow(/larger than the limit of 1000 bytes/);
    await expect(caller.call(call(`${origin}/slow`, { timeoutMs: 100 }), signal)).rejects.toMatchObject({
      errorName: 'TIMEOUT_ERROR',
      errorClass: 'network-timeout',
    });
  });

  it('knows private addresses', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '192.168.0.1',
      '169.254.169.254',
      '::1',
      '::ffff:127.0.0.1',
      'fd00::1',
    ]) {
      expect(isPrivateAddress(address)).toBe(true);
    }
    expect(isPrivateAddress('93.184.216.34')).toBe(false);
  });
});
