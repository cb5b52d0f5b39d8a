import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exampleOfSchema } from '../../src/providers/builtin/demo-model.ts';

/** What the fake answers next; tests set it per case. */
export type UpstreamScript = {
  /** Content pieces, one chunk each. */
  chunks?: string[];
  reasoning?: string[];
  toolCalls?: Array<{ id: string; name: string; arguments: string }>;
  /** Pause before each chunk, ms. */
  delayMs?: number;
  /** Pause before the response headers, ms. */
  headerDelayMs?: number;
  /** Answer with this HTTP status and an OpenAI error body instead. */
  status?: number;
  /** `Retry-After` header sent with `status`. */
  retryAfter?: string;
  /** Close the connection before any byte of the response (a reset before the first byte). */
  resetBeforeHeaders?: boolean;
  /** Send this raw line as a chunk (malformed data) after the first chunk. */
  garbage?: string;
  /** Close the connection after this many chunks without finishing. */
  dropAfter?: number;
  /** Reset the connection (TCP RST, the peer sees ECONNRESET) after this many chunks. */
  resetAfter?: number;
  /** Send no usage chunk, as some OpenAI-compatible servers do even when asked. */
  noUsage?: boolean;
  /** Report this many prompt tokens as served from cache (`prompt_tokens_details.cached_tokens`). */
  cachedTokens?: number;
};

export type FakeUpstream = {
  baseUrl: string;
  script: UpstreamScript;
  /** Scripts for the next requests, one each, before `script` applies again (retries, agent rounds). */
  queue: UpstreamScript[];
  /** Every request body received, in order, as parsed JSON. */
  requests: Array<Record<string, unknown>>;
  /** Headers of each chat request, in the same order as `requests`. */
  requestHeaders: IncomingHttpHeaders[];
  /** What `GET /v1/models` lists; unset answers 404 (a provider that cannot list its models). */
  models: string[] | undefined;
  /** Resolves with how the next (or current) request ended: finished, or closed by our server first. */
  nextEnd(): Promise<'finished' | 'closed-by-client'>;
  close(): Promise<void>;
};

/**
 * A real OpenAI-compatible HTTP server on a free port: `POST /v1/chat/completions`, streaming. Like
 * OpenAI it answers `response_format` json_object / json_schema with JSON (built from the schema),
 * `modalities: ["audio"]` with audio deltas (FAKE_AUDIO), and sends `logprobs` with each content
 * chunk when the request asks for them.
 */
export async function startFakeUpstream(initial: UpstreamScript = {}): Promise<FakeUpstream> {
  const requests: Array<Record<string, unknown>> = [];
  const requestHeaders: IncomingHttpHeaders[] = [];
  let waiters: Array<(how: 'finished' | 'closed-by-client') => void> = [];
  const ended = (how: 'finished' | 'closed-by-client') => {
    const current = waiters;
    waiters = [];
    for (const resolve of current) resolve(how);
  };

  const upstream: FakeUpstream = {
    baseUrl: '',
    script: initial,
    queue: [],
    requests,
    requestHeaders,
    models: undefined,
    nextEnd: () => new Promise((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (request.method === 'GET' && request.url?.endsWith('/models')) {
      if (!upstream.models) return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'application/json' });
      return void response.end(
        JSON.stringify({
          object: 'list',
          data: upstream.models.map((id) => ({ id, object: 'model', owned_by: 'fake' })),
        }),
      );
    }
    requestHeaders.push(request.headers);
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => void answer(JSON.parse(body || '{}') as Record<string, unknown>, response));
  });

  async function answer(body: Record<string, unknown>, response: ServerResponse) {
    requests.push(body);
    const script = upstream.queue.shift() ?? upstream.script;
    let finished = false;
    response.on('close', () => ended(finished ? 'finished' : 'closed-by-client'));
    const pause = (ms: number | undefined) =>
      ms ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
    await pause(script.headerDelayMs);
    if (response.destroyed) return;
    if (script.resetBeforeHeaders) {
      response.socket?.destroy();
      return;
    }
    if (script.status && script.status >= 400) {
      finished = true;
      response.writeHead(script.status, {
        'content-type': 'application/json',
        ...(script.retryAfter === undefined ? {} : { 'retry-after': script.retryAfter }),
      });
      response.end(
        JSON.stringify({ error: { message: `fake upstream error ${script.status}`, type: 'server_error' } }),
      );
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model: String(body.model) };
    const send = (payload: unknown) => response.write(`data: ${JSON.stringify(payload)}\n\n`);
    const deltas: Array<Record<string, unknown>> = [
      ...(script.reasoning ?? []).map((text) => ({ reasoning_content: text })),
      ...(wantsAudio(body) ? audioDeltas() : (script.chunks ?? defaultAnswer(body)).map((text) => ({ content: text }))),
      // As OpenAI streams a tool call: id and name first, then the arguments in pieces, by index.
      ...(script.toolCalls ?? []).flatMap((call, index) => {
        const half = Math.ceil(call.arguments.length / 2);
        return [
          {
            tool_calls: [
              {
                index,
                id: call.id,
                type: 'function',
                function: { name: call.name, arguments: call.arguments.slice(0, half) },
              },
            ],
          },
          { tool_calls: [{ index, function: { arguments: call.arguments.slice(half) } }] },
        ];
      }),
    ];
    for (const [index, delta] of deltas.entries()) {
      await pause(script.delayMs);
      if (response.destroyed) return;
      if (script.dropAfter !== undefined && index >= script.dropAfter) {
        response.destroy();
        return;
      }
      if (script.resetAfter !== undefined && index >= script.resetAfter) {
        response.socket?.resetAndDestroy();
        return;
      }
      const logprobs =
        body.logprobs === true && typeof delta.content === 'string'
          ? {
              content: [
                { token: delta.content, logprob: -0.25, bytes: [...Buffer.from(delta.content)], top_logprobs: [] },
              ],
            }
          : null;
      send({ ...base, choices: [{ index: 0, delta, logprobs, finish_reason: null }] });
      if (index === 0 && script.garbage !== undefined) response.write(`data: ${script.garbage}\n\n`);
    }
    send({
      ...base,
      choices: [{ index: 0, delta: {}, finish_reason: script.toolCalls?.length ? 'tool_calls' : 'stop' }],
    });
    if (!script.noUsage) {
      send({
        ...base,
        choices: [],
        usage: {
          prompt_tokens: 5,
          completion_tokens: deltas.length,
          total_tokens: 5 + deltas.length,
          ...(script.cachedTokens === undefined
            ? {}
            : { prompt_tokens_details: { cached_tokens: script.cachedTokens } }),
        },
      });
    }
    response.write('data: [DONE]\n\n');
    finished = true;
    response.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return upstream;
}

/** The audio answer the fake gives when asked for `modalities: ["audio"]` (base64 of a WAV header, in pieces). */
export const FAKE_AUDIO = {
  id: 'audio_fake_1',
  expiresAt: 1_900_000_000,
  transcript: ['Hello', ' from', ' upstream'],
  data: ['UklGRiQA', 'AABXQVZF'],
};

function wantsAudio(body: Record<string, unknown>): boolean {
  return Array.isArray(body.modalities) && body.modalities.includes('audio');
}

/** As OpenAI streams audio: the id with the first transcript piece, the rest, the audio in pieces, then its expiry. */
function audioDeltas(): Array<Record<string, unknown>> {
  return [
    ...FAKE_AUDIO.transcript.map((transcript, index) => ({
      audio: index === 0 ? { id: FAKE_AUDIO.id, transcript } : { transcript },
    })),
    ...FAKE_AUDIO.data.map((data) => ({ audio: { data } })),
    { audio: { id: FAKE_AUDIO.id, expires_at: FAKE_AUDIO.expiresAt } },
  ];
}

/** What the fake says unless scripted: JSON when asked for JSON (in two pieces), else a greeting. */
function defaultAnswer(body: Record<string, unknown>): string[] {
  const format = body.response_format as { type?: string; json_schema?: { schema?: object } } | undefined;
  if (format?.type !== 'json_object' && format?.type !== 'json_schema') return ['Hello', ' from', ' upstream'];
  const json = JSON.stringify(
    format.type === 'json_schema'
      ? exampleOfSchema(format.json_schema?.schema ?? {}, 'fake')
      : { answer: 'Hello from upstream' },
  );
  const half = Math.ceil(json.length / 2);
  return [json.slice(0, half), json.slice(half)];
}

/** App overrides that make the `upstream` provider (and so `upstream-bot`) stream from `upstream`. */
export function usingUpstream(upstream: FakeUpstream) {
  return {
    providers: {
      upstream: { type: 'openai-compatible' as const, baseUrl: upstream.baseUrl, defaultModel: 'fake-model' },
    },
  };
}
