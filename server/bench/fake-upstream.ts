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
 * Paced mode, for the slow-stream and resume tables: `POST /paced/<n>/v1/chat/completions` streams
 * the first n chunks of the answer with PACED_CHUNK_INTERVAL_MS between them, the first one at once,
 * so a stream holds its connections for seconds while time to first chunk stays the server's own;
 * `POST /paced/<n>/<ms>ms/v1/chat/completions` puts `<ms>` between them instead.
 *
 * Env: PORT (0 = any free port). Prints `listening on http://127.0.0.1:<port>` when ready.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ANSWER_TOKENS, CHUNKS_PER_ANSWER, PACED_CHUNK_INTERVAL_MS } from './constants.ts';

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

/** An answer made of `tokens`, one Buffer per write: content chunks, then finish, usage and [DONE]. */
function answerFrames(tokens: readonly string[]): Buffer[] {
  return [
    ...tokens.map((content, index) =>
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
      usage: { prompt_tokens: 8, completion_tokens: tokens.length, total_tokens: 8 + tokens.length },
    }),
    Buffer.from('data: [DONE]\n\n'),
  ];
}

const frames = answerFrames(ANSWER_TOKENS);
/** Paced answers by chunk count, built on first use. */
const pacedFrames = new Map<number, Buffer[]>();
const PACED_PATH = /^\/paced\/(\d+)(?:\/(\d+)ms)?\/v1\/chat\/completions$/;

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

/**
 * A paced answer of `chunks` content chunks: chunk i goes out at i × `intervalMs`;
 * finish, usage and [DONE] follow the last one at once.
 */
function streamPacedAnswer(response: ServerResponse, chunks: number, intervalMs: number) {
  let answer = pacedFrames.get(chunks);
  if (!answer) {
    answer = answerFrames(ANSWER_TOKENS.slice(0, chunks));
    pacedFrames.set(chunks, answer);
  }
  response.writeHead(200, SSE_HEADERS);
  let next = 0;
  const writeNext = () => {
    if (response.destroyed) return;
    response.write(answer[next++]!);
    if (next < chunks) {
      timer = setTimeout(writeNext, intervalMs);
      return;
    }
    for (const tail of answer.slice(next)) response.write(tail);
    response.end();
  };
  let timer = setTimeout(writeNext, 0);
  // A relay that aborts mid-answer must not leave a timer writing into a dead socket for seconds.
  response.on('close', () => clearTimeout(timer));
}

const server = createServer({ keepAliveTimeout: 65_000 }, (request, response) => {
  const pacedMatch = PACED_PATH.exec(request.url ?? '');
  const pacedChunks = Number(pacedMatch?.[1] ?? 0);
  const pacedIntervalMs = Number(pacedMatch?.[2] ?? PACED_CHUNK_INTERVAL_MS);
  const paced = pacedChunks >= 1 && pacedChunks <= CHUNKS_PER_ANSWER;
  if (request.method !== 'POST' || !(paced || request.url === '/v1/chat/completions')) {
    response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
    return;
  }
  // The request body does not change the answer; read it only to keep the connection reusable.
  request.resume();
  request.on('end', () => (paced ? streamPacedAnswer(response, pacedChunks, pacedIntervalMs) : streamAnswer(response)));
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
