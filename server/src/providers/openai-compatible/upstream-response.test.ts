import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendUpstream, type UpstreamResponse } from './upstream-response.ts';

/** A real HTTP server on a local port; each test routes by path. */
let server: Server;
let base: URL;
const closedRequests: string[] = [];
const routes = new Map<string, (request: IncomingMessage, response: ServerResponse) => void>();
const dispatcher = new Agent();

beforeAll(async () => {
  server = createServer((request, response) => {
    request.on('close', () => {
      if (!response.writableFinished) closedRequests.push(request.url ?? '');
    });
    routes.get(request.url ?? '')?.(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  await dispatcher.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const send = (path: string, signal = new AbortController().signal) =>
  sendUpstream(new URL(path, base), { method: 'POST', headers: {}, body: '{}', signal, dispatcher });

async function readAll(response: UpstreamResponse, delayMs = 0): Promise<string> {
  const chunks: Buffer[] = [];
  for (let bytes = await response.read(); bytes !== undefined; bytes = await response.read()) {
    chunks.push(bytes);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  return Buffer.concat(chunks).toString();
}

const waitFor = async (check: () => boolean) => {
  for (let tries = 0; tries < 100 && !check(); tries += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  return check();
};

describe('sendUpstream', () => {
  it('gives the status, then the body as it arrives, in order, until its end', async () => {
    routes.set('/slow', (_request, response) => {
      response.writeHead(201, { 'content-type': 'text/plain' });
      response.write('a');
      setTimeout(() => response.write('b'), 20);
      setTimeout(() => response.end('c'), 40);
    });
    const response = await send('/slow');
    expect(response.statusCode).toBe(201);
    expect(await readAll(response)).toBe('abc');
    expect(await response.read()).toBeUndefined();
  });

  it('delivers a large body intact to a reader slower than the network', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 'x').toString() + 'end';
    routes.set('/large', (_request, response) => response.end(body));
    const response = await send('/large');
    expect(await readAll(response, 2)).toBe(body);
  });

  it('closes the connection when closed before the end of the body', async () => {
    routes.set('/endless', (_request, response) => {
      response.writeHead(200);
      const timer = setInterval(() => response.write('.'), 10);
      response.on('close', () => clearInterval(timer));
    });
    const response = await send('/endless');
    await response.read();
    response.close();
    expect(await waitFor(() => closedRequests.includes('/endless'))).toBe(true);
    await expect(response.read()).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('stops at once when its signal aborts, mid-body or before the response', async () => {
    routes.set('/abort-mid', (_request, response) => {
      response.writeHead(200);
      response.write('first');
    });
    const controller = new AbortController();
    const response = await send('/abort-mid', controller.signal);
    expect((await response.read())?.toString()).toBe('first');
    const reading = response.read();
    controller.abort();
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' });
    expect(await waitFor(() => closedRequests.includes('/abort-mid'))).toBe(true);

    routes.set('/abort-early', () => undefined);
    const early = new AbortController();
    const sending = send('/abort-early', early.signal);
    setTimeout(() => early.abort(), 20);
    await expect(sending).rejects.toMatchObject({ name: 'AbortError' });
    expect(await waitFor(() => closedRequests.includes('/abort-early'))).toBe(true);
  });

  it('rejects with the connection error when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(
      sendUpstream(new URL(`http://127.0.0.1:${port}/`), {
        method: 'POST',
        headers: {},
        body: null,
        signal: new AbortController().signal,
        dispatcher,
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
