/**
 * The floor for a Node gateway: for each POST it asks the upstream with undici and pipes the SSE
 * bytes straight back — no auth, no parsing, no framing, no storage. Whatever our OpenAI route
 * costs above this is the price of what it does with each chunk.
 *
 * Env: PORT (0 = any free port), UPSTREAM_URL (the full chat-completions URL).
 * Prints `listening on http://127.0.0.1:<port>` when ready.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';

const upstreamUrl = process.env.UPSTREAM_URL;
if (!upstreamUrl) throw new Error('UPSTREAM_URL is required');

async function readBody(incoming: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const server = createServer({ keepAliveTimeout: 65_000 }, (incoming, response) => {
  const controller = new AbortController();
  // A client that leaves must close the upstream request too, as a real gateway would.
  response.on('close', () => {
    if (!response.writableFinished) controller.abort();
  });
  const relay = async () => {
    const body = await readBody(incoming);
    const upstream = await request(upstreamUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body,
      signal: controller.signal,
    });
    response.writeHead(upstream.statusCode, {
      'content-type': String(upstream.headers['content-type'] ?? 'text/event-stream'),
      'cache-control': 'no-cache',
    });
    await pipeline(upstream.body, response);
  };
  relay().catch(() => {
    if (!response.headersSent) response.writeHead(502).end();
    else response.destroy();
  });
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
