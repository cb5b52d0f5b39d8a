/**
 * Benchmark upstream: an OpenAI-compatible `POST /v1/chat/completions` that streams the same
 * answer every time — 64 content chunks, a finish chunk, a usage chunk, `data: [DONE]`.
 *
 * It runs in its own process so its CPU never counts against a server under test. Every frame is
 * built once at start-up, so the upstream costs as little as possible per request and is the
 * floor every other target is compared with. Each frame goes out in its own `write`, one event
 * loop turn apart, so a relay receives the answer in many small reads the way a real model
 * streams it, not in one burst.
 *
 * Env: PORT (0 = any free port). Prints `listening on http://127.0.0.1:<port>` when ready.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ANSWER_TOKENS, CHUNKS_PER_ANSWER } from './constants.ts';

const CREATED = 1_700_000_000;
const head = {
  id: 'chatcmpl-bench',
  object: 'chat.completion.chunk',
  created: CREATED,
  model: 'bench-model',
  system_fingerprint: null,
};

function frame(body: unknown): Buffer {
  return Buffer.from(`data: ${JSON.stringify(body)}\n\n`);
}

/** The whole answer, one Buffer per write. */
const frames: Buffer[] = [
  ...ANSWER_TOKENS.map((content, index) =>
    frame({
      ...head,
      choices: [
        {
          index: 0,
          delta: index === 0 ? { role: 'assistant', content } : { content },
          logprobs: null,
          finish_reason: null,
        },
      ],
    }),
  ),
  frame({ ...head, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] }),
  frame({
    ...head,
    choices: [],
    usage: { prompt_tokens: 8, completion_tokens: CHUNKS_PER_ANSWER, total_tokens: 8 + CHUNKS_PER_ANSWER },
  }),
  Buffer.from('data: [DONE]\n\n'),
];

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
};

function streamAnswer(response: ServerResponse) {
  response.writeHead(200, SSE_HEADERS);
  let next = 0;
  const writeNext = () => {
    // The reader left (a relay aborted): stop instead of writing into a dead socket.
    if (response.destroyed) return;
    const current = frames[next++];
    if (current === undefined) {
      response.end();
      return;
    }
    response.write(current);
    setImmediate(writeNext);
  };
  writeNext();
}

const server = createServer({ keepAliveTimeout: 65_000 }, (request, response) => {
  if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
    response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
    return;
  }
  // The request body does not change the answer; read it only to keep the connection reusable.
  request.resume();
  request.on('end', () => streamAnswer(response));
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
