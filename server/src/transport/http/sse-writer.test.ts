import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUnsentBudget } from '../../lib/unsent-budget.ts';
import { openSseStream, sseFrame } from './sse-writer.ts';

describe('sseFrame', () => {
  it('writes event, data and id lines as tRPC and browsers read them', () => {
    expect(sseFrame({ data: '{"a":1}' })).toBe('data: {"a":1}\n\n');
    expect(sseFrame({ data: '{"a":1}', id: 'run_1:4' })).toBe('data: {"a":1}\nid: run_1:4\n\n');
    expect(sseFrame({ event: 'ping', data: '' })).toBe('event: ping\ndata: \n\n');
  });

  it('refuses a line break in an id or an event name, which would smuggle in fields of its own', () => {
    for (const id of ['run_1:4\ndata: forged', 'run_1\r', '\r\nid: 9']) {
      expect(() => sseFrame({ data: '{}', id })).toThrow('An SSE id must not contain \\r or \\n.');
    }
    for (const event of ['ping\n', 'a\rb']) {
      expect(() => sseFrame({ event, data: '{}' })).toThrow('An SSE event name must not contain \\r or \\n.');
    }
  });
});

describe('the SSE writer', () => {
  let server: Server;
  let url = '';
  beforeAll(async () => {
    server = createServer((_request, response) => {
      const unsent = createUnsentBudget({ perStreamBytes: 1 << 20, totalBytes: 1 << 24 });
      const stream = openSseStream(response, { pingIntervalMs: 60_000, unsent }, ': ping\n\n', 'test');
      stream.message({ data: '1', id: 'a:1' });
      expect(() => stream.message({ data: '2', id: 'a:2\nid: forged' })).toThrow();
      stream.message({ event: 'done', data: '3' });
      stream.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('sends nothing of a refused message, and the stream goes on', async () => {
    const response = await fetch(url);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(await response.text()).toBe('data: 1\nid: a:1\n\nevent: done\ndata: 3\n\n');
  });
});
