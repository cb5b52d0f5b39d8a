/**
 * The baseline for our tRPC transports: a bare `@trpc/server` subscription that asks the upstream
 * with undici, parses its SSE with eventsource-parser and yields each chunk's content — no auth,
 * no transformer, no validation, no storage, no event envelope. Served over SSE (standalone
 * adapter) and WebSocket (applyWSSHandler) on the same port, like our server does.
 *
 * Env: PORT (0 = any free port), UPSTREAM_URL (the full chat-completions URL).
 * Prints `listening on http://127.0.0.1:<port>` when ready.
 */
import type { AddressInfo } from 'node:net';
import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { createParser } from 'eventsource-parser';
import { request } from 'undici';
import { WebSocketServer } from 'ws';

/** The Astron body our own tRPC route takes, so both are driven with the same input. */
export type RelayInput = { parameters: { messages: Array<{ role: string; content: string }> } };

type UpstreamChunk = { choices?: Array<{ delta?: { content?: string | null } }> };

const upstreamUrl = process.env.UPSTREAM_URL;
if (!upstreamUrl) throw new Error('UPSTREAM_URL is required');

const t = initTRPC.create();

const relayRouter = t.router({
  chat: t.router({
    completions: t.procedure
      // A cast, not a schema: the baseline must not pay for validation.
      .input((value: unknown) => value as RelayInput)
      .subscription(async function* ({ input, signal }) {
        const response = await request(upstreamUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({
            model: 'bench',
            stream: true,
            stream_options: { include_usage: true },
            messages: input.parameters.messages,
          }),
          signal,
        });
        const contents: string[] = [];
        let done = false;
        const parser = createParser({
          onEvent(event) {
            if (event.data === '[DONE]') {
              done = true;
              return;
            }
            const content = (JSON.parse(event.data) as UpstreamChunk).choices?.[0]?.delta?.content;
            if (content) contents.push(content);
          },
        });
        // undici's body ignores setEncoding when iterated: decode the bytes here, across reads.
        const decoder = new TextDecoder();
        try {
          for await (const bytes of response.body as AsyncIterable<Uint8Array>) {
            parser.feed(decoder.decode(bytes, { stream: true }));
            if (contents.length > 0) yield* contents.splice(0);
            if (done) break;
          }
        } finally {
          // Leaving early (client gone) must close the upstream socket now.
          if (!response.body.destroyed) response.body.destroy();
        }
      }),
  }),
});

export type RelayRouter = typeof relayRouter;

// The bench imports this file with `import type` only, so this runs only in the relay's process.
const server = createHTTPServer({ router: relayRouter });
// As long as our server's: Node's 5 s default lets a pooled client connection be closed under it.
server.keepAliveTimeout = 65_000;
const sockets = new WebSocketServer({ server });
applyWSSHandler({ wss: sockets, router: relayRouter });
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  for (const client of sockets.clients) client.terminate();
  sockets.close();
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
