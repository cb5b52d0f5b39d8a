/**
 * The load generator's clients, one kind per transport, and the closed loop that drives them.
 * Every client reports, per request, how long the first content-carrying frame took, how many
 * content-carrying frames arrived, and whether the whole answer arrived and ended the way its format
 * says it must.
 */
import { createHash, createHmac } from 'node:crypto';
import { createTRPCClient, createWSClient, httpSubscriptionLink, wsLink, type TRPCClient } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { EventSource, type FetchLike } from 'eventsource';
import { createParser } from 'eventsource-parser';
import superjson from 'superjson';
import { Agent, fetch as undiciFetch, Pool } from 'undici';
import { WebSocket } from 'ws';
import type { AppRouter } from '../src/transport/trpc/trpc.router.ts';
import { EXPECTED_ANSWER, REQUEST_TIMEOUT_MS } from './constants.ts';
import type { RelayInput, RelayRouter } from './trpc-relay.ts';

export type RequestResult = {
  ok: boolean;
  /** From sending the request to the first content-carrying frame, ms. */
  ttfcMs: number | undefined;
  /** Content-carrying frames received. */
  chunks: number;
  error?: string;
  /** Refused with a code (1010, overloaded) instead of served: a refusal, not a failure to serve. */
  refused?: { code: number; retryAfterSeconds: number | undefined };
  /** No answer in time: the handshake or the stream timed out. */
  timedOut?: boolean;
};

/** A target opened for one phase: its connections, sockets or pools live until `close`. */
export type Session = {
  /** One request; `slot` is the index of the concurrent worker that sends it. */
  run(slot: number): Promise<RequestResult>;
  close(): Promise<void>;
};

export type OpenSession = (concurrency: number) => Promise<Session>;

/** WebSocket targets share this many sockets at most; more concurrent runs share a socket. */
export const MAX_SOCKETS = 64;

/** What the slow-stream table changes about a target; the throughput table uses the defaults. */
export type TargetOptions = {
  /** The answer a request must add up to. Default: the fast upstream's EXPECTED_ANSWER. */
  expectedAnswer?: string;
  /** WebSocket sockets to open for a phase of `concurrency` runs. Default: min(concurrency, MAX_SOCKETS). */
  sockets?: (concurrency: number) => number;
};

function socketsFor(options: TargetOptions, concurrency: number): number {
  return options.sockets ? options.sockets(concurrency) : Math.min(concurrency, MAX_SOCKETS);
}

export const DEMO_API_KEY = 'sk-demo';
const DEMO_APP_ID = 'demo-app';
const DEMO_SECRET = 'demo-secret';
const QUESTION = [{ role: 'user' as const, content: 'hi' }];

export const openaiBody = { model: 'upstream-bot', stream: true, messages: QUESTION };
export const astronBody = { bot_id: 'upstream-bot', uid: 'bench', stream: true, parameters: { messages: QUESTION } };

/**
 * Tracks one request: when its first content arrived, how many content-carrying frames came,
 * the text they carried, and the first failure seen.
 */
class RequestTrace {
  readonly startedAt = performance.now();

  constructor(private readonly expectedAnswer: string) {}

  firstContentAt: number | undefined;
  chunks = 0;
  text = '';
  failure: string | undefined;

  content(text: string) {
    this.firstContentAt ??= performance.now();
    this.chunks += 1;
    this.text += text;
  }

  refused: RequestResult['refused'];
  timedOut = false;

  fail(reason: string) {
    this.failure ??= reason;
  }

  refuse(code: number, retryAfterSeconds: number | undefined, reason: string) {
    if (this.failure === undefined) this.refused = { code, retryAfterSeconds };
    this.fail(reason);
  }

  timeout(reason: string) {
    if (this.failure === undefined) this.timedOut = true;
    this.fail(reason);
  }

  result(): RequestResult {
    const complete = this.failure === undefined && this.text === this.expectedAnswer;
    const error =
      this.failure ?? `received ${this.text.length} of ${this.expectedAnswer.length} characters of the answer`;
    return {
      ok: complete,
      ttfcMs: this.firstContentAt === undefined ? undefined : this.firstContentAt - this.startedAt,
      chunks: this.chunks,
      ...(complete ? {} : { error }),
      ...(this.refused ? { refused: this.refused } : {}),
      ...(this.timedOut ? { timedOut: true } : {}),
    };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Feeds an SSE response body to `parser`; undici's body ignores setEncoding when iterated, so bytes are decoded here, across reads. */
async function feedSse(body: AsyncIterable<Uint8Array>, parser: { feed(text: string): void }): Promise<void> {
  const decoder = new TextDecoder();
  for await (const bytes of body) parser.feed(decoder.decode(bytes, { stream: true }));
}

/** Closes WebSockets and waits until every one has closed. */
async function closeSockets(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === socket.CLOSED) return resolve();
          socket.once('close', () => resolve());
          socket.close();
        }),
    ),
  );
}

type SseChunk = {
  choices?: Array<{ delta?: { content?: string | null } }>;
  /** OpenAI's in-band error. */
  error?: unknown;
  /** Astron's result code, 0 for success. */
  code?: number;
  message?: string;
};

/**
 * `POST <origin><path>` answered with SSE in OpenAI or Astron chunks (the upstream itself, the
 * pass-through relay, our OpenAI and Astron routes). One pooled keep-alive connection per worker.
 */
export function httpSseTarget(options: {
  origin: string;
  path: string;
  headers?: Record<string, string>;
  body: unknown;
  expectedAnswer?: string;
}): OpenSession {
  const expectedAnswer = options.expectedAnswer ?? EXPECTED_ANSWER;
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream', ...options.headers };
  const body = JSON.stringify(options.body);
  return (concurrency) => {
    const pool = new Pool(options.origin, { connections: concurrency, pipelining: 1 });
    return Promise.resolve({
      async run() {
        const trace = new RequestTrace(expectedAnswer);
        let sawDone = false;
        try {
          const response = await pool.request({
            path: options.path,
            method: 'POST',
            headers,
            body,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          if (response.statusCode !== 200) {
            trace.fail(`HTTP ${response.statusCode}: ${(await response.body.text()).slice(0, 200)}`);
            return trace.result();
          }
          const parser = createParser({
            onEvent(event) {
              if (event.data === '[DONE]') {
                sawDone = true;
                return;
              }
              const chunk = JSON.parse(event.data) as SseChunk;
              if (chunk.error !== undefined) trace.fail(`in-band error: ${JSON.stringify(chunk.error).slice(0, 200)}`);
              if (chunk.code !== undefined && chunk.code !== 0)
                trace.fail(`code ${chunk.code}: ${chunk.message ?? ''}`);
              const content = chunk.choices?.[0]?.delta?.content;
              if (content) trace.content(content);
            },
          });
          await feedSse(response.body, parser);
          if (!sawDone) trace.fail('stream ended without [DONE]');
        } catch (error) {
          trace.fail(messageOf(error));
        }
        return trace.result();
      },
      close: () => pool.close(),
    });
  };
}

type SubscriptionHandlers = {
  onData(value: unknown): void;
  onError(error: unknown): void;
  onComplete(): void;
  onStopped(): void;
  onConnectionStateChange(state: { state: string; error?: unknown }): void;
};

/** What a yielded tRPC value is: content (with its text), the run's final event, an in-band error, or anything else. */
type Yielded = { content: string } | 'finish' | 'error' | 'other';

/** Runs one tRPC subscription to its end; `classify` reads each yielded value. */
function runSubscription(
  subscribe: (handlers: SubscriptionHandlers) => { unsubscribe(): void },
  classify: (value: unknown) => Yielded,
  requireFinishEvent: boolean,
  expectedAnswer: string = EXPECTED_ANSWER,
): Promise<RequestResult> {
  const trace = new RequestTrace(expectedAnswer);
  let finished = !requireFinishEvent;
  return new Promise((resolve) => {
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Deferred: settle may run inside subscribe(), before `subscription` below is assigned.
      queueMicrotask(() => subscription.unsubscribe());
      if (!finished) trace.fail('subscription ended without a finish event');
      resolve(trace.result());
    };
    const timer = setTimeout(() => {
      trace.fail(`timed out after ${REQUEST_TIMEOUT_MS} ms`);
      settle();
    }, REQUEST_TIMEOUT_MS);
    const subscription = subscribe({
      onData(value) {
        const yielded = classify(value);
        if (yielded === 'finish') finished = true;
        else if (yielded === 'error') trace.fail(`in-band error: ${JSON.stringify(value).slice(0, 200)}`);
        else if (yielded !== 'other') trace.content(yielded.content);
      },
      onError(error) {
        trace.fail(messageOf(error));
        settle();
      },
      onComplete: settle,
      onStopped: settle,
      // httpSubscriptionLink answers a server error by reconnecting, which would run the request
      // again and again until the timeout: count the first such error and stop.
      onConnectionStateChange(state) {
        if (state.state === 'connecting' && state.error) {
          trace.fail(`reconnecting after: ${messageOf(state.error)}`);
          settle();
        }
      },
    });
  });
}

/** What our tRPC route yields: `tracked` ChatEvents, so each arrives as `{ id, data }`. */
function classifyChatEvent(value: unknown): Yielded {
  const event = (value as { data?: { type?: string; text?: string; finishReason?: string } }).data;
  switch (event?.type) {
    case 'text-delta':
      return event.text ? { content: event.text } : 'other';
    case 'finish':
      // A run the server cancelled (slow consumer, orphan, shutdown) did not answer the request.
      return event.finishReason === 'cancelled' ? 'error' : 'finish';
    case 'error':
      return 'error';
    default:
      return 'other';
  }
}

/** The bare relay yields each chunk's content as a plain string. */
function classifyRelayValue(value: unknown): Yielded {
  return typeof value === 'string' && value.length > 0 ? { content: value } : 'other';
}

/** tRPC clients for a target; `pick(slot)` spreads workers over WebSocket clients. */
export type TrpcClients<Router extends AnyRouter> = { pick(slot: number): TRPCClient<Router>; close(): Promise<void> };

/** httpSubscriptionLink over the `eventsource` package: one HTTP request per subscription. */
function sseClients<Router extends AnyRouter>(url: string, withServerOptions: boolean): TrpcClients<Router> {
  // A dispatcher of its own, so a phase's connections close with it.
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  // Our server refuses a key in the URL: it goes in the header, as @astron-chat/client sends it.
  const authorization = withServerOptions ? { authorization: `Bearer ${DEMO_API_KEY}` } : {};
  const fetchThroughAgent: FetchLike = (input, init) =>
    undiciFetch(input, { ...init, headers: { ...init?.headers, ...authorization }, dispatcher: agent });
  const client = createTRPCClient<Router>({
    links: [
      httpSubscriptionLink({
        url,
        EventSource,
        eventSourceOptions: { fetch: fetchThroughAgent },
        ...(withServerOptions ? { transformer: superjson } : {}),
      } as Parameters<typeof httpSubscriptionLink>[0]),
    ],
  });
  return { pick: () => client, close: () => agent.close() };
}

/** wsLink clients, each on its own socket; opened before the phase's clock starts. */
export async function wsClients<Router extends AnyRouter>(
  url: string,
  sockets: number,
  withServerOptions: boolean,
): Promise<TrpcClients<Router>> {
  const wsClientList = await Promise.all(
    Array.from({ length: sockets }, () => {
      return new Promise<ReturnType<typeof createWSClient>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`tRPC WebSocket ${url} did not open`)), 10_000);
        const wsClient = createWSClient({
          url,
          WebSocket: WebSocket as unknown as NonNullable<Parameters<typeof createWSClient>[0]['WebSocket']>,
          ...(withServerOptions ? { connectionParams: { apiKey: DEMO_API_KEY } } : {}),
          onOpen() {
            clearTimeout(timer);
            resolve(wsClient);
          },
        });
      });
    }),
  );
  const clients = wsClientList.map((wsClient) =>
    createTRPCClient<Router>({
      links: [
        wsLink({ client: wsClient, ...(withServerOptions ? { transformer: superjson } : {}) } as Parameters<
          typeof wsLink
        >[0]),
      ],
    }),
  );
  return {
    pick: (slot) => clients[slot % clients.length] as TRPCClient<Router>,
    async close() {
      await Promise.all(wsClientList.map((wsClient) => wsClient.close()));
    },
  };
}

/** Our `chat.completions` subscription (superjson, API key in connectionParams). */
export function ourTrpcTarget(url: string, link: 'sse' | 'ws', options: TargetOptions = {}): OpenSession {
  return async (concurrency) => {
    const clients =
      link === 'sse'
        ? sseClients<AppRouter>(url, true)
        : await wsClients<AppRouter>(url, socketsFor(options, concurrency), true);
    return {
      run: (slot) =>
        runSubscription(
          (handlers) => clients.pick(slot).chat.completions.subscribe(astronBody, handlers),
          classifyChatEvent,
          true,
          options.expectedAnswer,
        ),
      close: () => clients.close(),
    };
  };
}

/** What a `chat.completions` value is on the wire: `{json: ChatEvent}` (SSE) or `{json: {id, data: ChatEvent}}` (WS). */
type WireEvent = { type?: string; text?: string; finishReason?: string; code?: number };
type WireMessage = {
  id?: number;
  result?: { type?: string; data?: { json?: { data?: WireEvent } } };
  error?: { json?: { data?: { appCode?: number } } };
};

/** Feeds one tRPC value to the trace; true once the stream has ended (finish, error or stopped). */
function readWireEvent(trace: RequestTrace, event: WireEvent | undefined): boolean {
  if (event?.type === 'text-delta' && event.text) trace.content(event.text);
  if (event?.type === 'error') trace.fail(`in-band error: ${JSON.stringify(event).slice(0, 200)}`);
  if (event?.type === 'finish' && event.finishReason === 'cancelled') trace.fail('the run was cancelled');
  return event?.type === 'finish' || event?.type === 'error';
}

/** The server's overload refusal: 1010 with its Retry-After, seconds. */
const OVERLOADED_CODE = 1010;
/** A WebSocket handshake that has not completed after this long counts as timed out. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Our `chat.completions` subscription spoken on the wire, without `@trpc/client`: tRPC's SSE frames
 * over one pooled keep-alive connection per worker, or tRPC's WebSocket messages over one socket
 * per stream. The same bytes as `httpSubscriptionLink` and `wsLink` exchange (the tests use those),
 * at the cost of a raw client, as the REST and plain WebSocket rows are measured: with 1,000 streams
 * on a 2-core machine the tRPC client's own CPU would otherwise count in the server's TTFC.
 */
export function wireTrpcTarget(url: string, link: 'sse' | 'ws', options: TargetOptions = {}): OpenSession {
  const expectedAnswer = options.expectedAnswer ?? EXPECTED_ANSWER;
  if (link === 'sse') {
    const origin = new URL(url).origin;
    const path =
      `${new URL(url).pathname}/chat.completions?input=${encodeURIComponent(JSON.stringify({ json: astronBody }))}`;
    return (concurrency) => {
      const pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
      return Promise.resolve({
        async run() {
          const trace = new RequestTrace(expectedAnswer);
          let ended = false;
          try {
            const response = await pool.request({
              path,
              method: 'GET',
              headers: { authorization: `Bearer ${DEMO_API_KEY}` },
              signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
            });
            const parser = createParser({
              onEvent(message) {
                if (message.event === 'serialized-error') trace.fail(`error: ${message.data.slice(0, 200)}`);
                if (message.event !== undefined) return;
                ended ||= readWireEvent(trace, (JSON.parse(message.data) as { json?: WireEvent }).json);
              },
            });
            await feedSse(response.body, parser);
            if (!ended) trace.fail('stream ended without a finish event');
          } catch (error) {
            trace.fail(messageOf(error));
          }
          return trace.result();
        },
        close: () => pool.close(),
      });
    };
  }
  return async (concurrency) => {
    let nextId = 0;
    const sockets = await Promise.all(
      Array.from({ length: socketsFor(options, concurrency) }, async () => {
        const socket = new WebSocket(`${url}?connectionParams=1`);
        const pending = new Map<number, (message: WireMessage | Error) => void>();
        socket.on('message', (data) => {
          const message = JSON.parse((data as Buffer).toString('utf8')) as WireMessage;
          if (typeof message.id === 'number') pending.get(message.id)?.(message);
        });
        socket.on('close', () => {
          for (const deliver of pending.values()) deliver(new Error('socket closed'));
        });
        socket.on('error', () => {
          // 'close' follows and fails the pending runs.
        });
        await new Promise<void>((resolve, reject) => {
          socket.once('open', () => resolve());
          socket.once('error', reject);
        });
        socket.send(JSON.stringify({ method: 'connectionParams', data: { apiKey: DEMO_API_KEY } }));
        return { socket, pending };
      }),
    );
    return {
      run(slot) {
        const { socket, pending } = sockets[slot % sockets.length]!;
        const id = nextId++;
        const trace = new RequestTrace(expectedAnswer);
        return new Promise<RequestResult>((resolve) => {
          let ended = false;
          const finish = (failure?: string) => {
            clearTimeout(timer);
            pending.delete(id);
            if (failure !== undefined) trace.fail(failure);
            resolve(trace.result());
          };
          const timer = setTimeout(() => finish(`timed out after ${REQUEST_TIMEOUT_MS} ms`), REQUEST_TIMEOUT_MS);
          pending.set(id, (message) => {
            if (message instanceof Error) return finish(message.message);
            if (message.error !== undefined) return finish(`error: ${JSON.stringify(message.error).slice(0, 200)}`);
            if (message.result?.type === 'stopped') return finish(ended ? undefined : 'stopped without a finish event');
            if (message.result?.type === 'data') ended ||= readWireEvent(trace, message.result.data?.json?.data);
          });
          socket.send(
            JSON.stringify({ id, method: 'subscription', params: { path: 'chat.completions', input: { json: astronBody } } }),
          );
        });
      },
      close: () => closeSockets(sockets.map(({ socket }) => socket)),
    };
  };
}

/**
 * Our `chat.completions` over tRPC's WebSocket messages with a socket of its own per stream, opened
 * when the stream starts and closed when it ends: every stream pays a handshake while the others
 * stream, which is what times out under overload. A coded refusal (the upgrade closed with 1013 and
 * `{"code":1010,…}`, or an error with `appCode` 1010) is a refusal, not a timeout: the stream's
 * result carries it and its Retry-After.
 */
export function trpcSocketPerStreamTarget(url: string, options: TargetOptions = {}): OpenSession {
  const expectedAnswer = options.expectedAnswer ?? EXPECTED_ANSWER;
  const input = JSON.stringify({ id: 1, method: 'subscription', params: { path: 'chat.completions', input: { json: astronBody } } });
  const connectionParams = JSON.stringify({ method: 'connectionParams', data: { apiKey: DEMO_API_KEY } });
  const open = new Set<WebSocket>();
  return () =>
    Promise.resolve({
      run() {
        const trace = new RequestTrace(expectedAnswer);
        return new Promise<RequestResult>((resolve) => {
          const socket = new WebSocket(`${url}?connectionParams=1`);
          open.add(socket);
          let opened = false;
          let ended = false;
          const finish = () => {
            clearTimeout(timer);
            open.delete(socket);
            socket.removeAllListeners();
            socket.on('error', () => undefined);
            if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.terminate();
            resolve(trace.result());
          };
          let timer = setTimeout(() => {
            trace.timeout(`handshake not done after ${HANDSHAKE_TIMEOUT_MS} ms`);
            finish();
          }, HANDSHAKE_TIMEOUT_MS);
          socket.on('open', () => {
            opened = true;
            clearTimeout(timer);
            timer = setTimeout(() => {
              trace.timeout(`timed out after ${REQUEST_TIMEOUT_MS} ms`);
              finish();
            }, REQUEST_TIMEOUT_MS);
            socket.send(connectionParams);
            socket.send(input);
          });
          socket.on('message', (data) => {
            const message = JSON.parse((data as Buffer).toString('utf8')) as WireMessage;
            if (message.id !== 1) return;
            if (message.error !== undefined) {
              const code = message.error.json?.data?.appCode;
              const text = `error: ${JSON.stringify(message.error).slice(0, 200)}`;
              if (code === OVERLOADED_CODE) trace.refuse(code, undefined, text);
              else trace.fail(text);
              return finish();
            }
            if (message.result?.type === 'stopped') {
              if (!ended) trace.fail('stopped without a finish event');
              return finish();
            }
            if (message.result?.type === 'data') ended ||= readWireEvent(trace, message.result.data?.json?.data);
          });
          socket.on('close', (code, reason) => {
            let refusal: { code?: number; retry_after?: number } = {};
            try {
              refusal = JSON.parse(reason.toString()) as typeof refusal;
            } catch {
              // not a coded refusal
            }
            if (refusal.code === OVERLOADED_CODE) trace.refuse(OVERLOADED_CODE, refusal.retry_after, `closed ${code}: ${reason.toString()}`);
            else trace.fail(`socket closed (${code}${opened ? '' : ', before it opened'})`);
            finish();
          });
          socket.on('unexpected-response', (_request, response) => {
            trace.fail(`WebSocket upgrade refused: HTTP ${response.statusCode}`);
            finish();
          });
          socket.on('error', (error) => {
            trace.fail(messageOf(error));
            finish();
          });
        });
      },
      close() {
        for (const socket of open) socket.terminate();
        open.clear();
        return Promise.resolve();
      },
    });
}

/** The bare relay's `chat.completions` subscription (no transformer, no credentials). */
export function relayTrpcTarget(url: string, link: 'sse' | 'ws'): OpenSession {
  const input: RelayInput = { parameters: { messages: QUESTION } };
  return async (concurrency) => {
    const clients =
      link === 'sse'
        ? sseClients<RelayRouter>(url, false)
        : await wsClients<RelayRouter>(url, Math.min(concurrency, MAX_SOCKETS), false);
    return {
      run: (slot) =>
        runSubscription(
          (handlers) => clients.pick(slot).chat.completions.subscribe(input, handlers),
          classifyRelayValue,
          false,
        ),
      close: () => clients.close(),
    };
  };
}

/** `signa` = Base64(HMAC-SHA1(secret, lowercase hex MD5(appid + ts))), as the server checks it. */
function signedWebSocketUrl(origin: string): string {
  const ts = String(Math.floor(Date.now() / 1000));
  const digest = createHash('md5').update(`${DEMO_APP_ID}${ts}`).digest('hex');
  const signa = createHmac('sha1', DEMO_SECRET).update(digest).digest('base64');
  const url = new URL('/agent/v1/ws', origin.replace(/^http/, 'ws'));
  url.search = new URLSearchParams({ appid: DEMO_APP_ID, ts, signa }).toString();
  return url.toString();
}

type AstronFrame = {
  request_id?: string;
  code?: number;
  message?: string;
  choices?: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>;
};

/**
 * Our plain WebSocket: min(concurrency, 64) signed sockets (unless `options.sockets` says otherwise),
 * several runs each told apart by `request_id`; a run ends with the frame whose `finish_reason` is set.
 */
export function plainWebSocketTarget(origin: string, options: TargetOptions = {}): OpenSession {
  const expectedAnswer = options.expectedAnswer ?? EXPECTED_ANSWER;
  return async (concurrency) => {
    type Pending = (frame: AstronFrame | Error) => void;
    let nextRequestId = 0;
    const sockets = await Promise.all(
      Array.from({ length: socketsFor(options, concurrency) }, async () => {
        const socket = new WebSocket(signedWebSocketUrl(origin));
        const pending = new Map<string, Pending>();
        socket.on('message', (data) => {
          const frame = JSON.parse((data as Buffer).toString('utf8')) as AstronFrame;
          if (frame.request_id !== undefined) pending.get(frame.request_id)?.(frame);
        });
        socket.on('close', () => {
          for (const deliver of pending.values()) deliver(new Error('socket closed'));
        });
        socket.on('error', () => {
          // 'close' follows and fails the pending runs.
        });
        await new Promise<void>((resolve, reject) => {
          socket.once('open', () => resolve());
          socket.once('unexpected-response', (_request, response) =>
            reject(new Error(`WebSocket upgrade refused: HTTP ${response.statusCode}`)),
          );
          socket.once('error', reject);
        });
        return { socket, pending };
      }),
    );
    return {
      run(slot) {
        const { socket, pending } = sockets[slot % sockets.length]!;
        const requestId = `bench-${nextRequestId++}`;
        const trace = new RequestTrace(expectedAnswer);
        return new Promise<RequestResult>((resolve) => {
          const finish = (failure?: string) => {
            clearTimeout(timer);
            pending.delete(requestId);
            if (failure !== undefined) trace.fail(failure);
            resolve(trace.result());
          };
          const timer = setTimeout(() => {
            if (socket.readyState === socket.OPEN)
              socket.send(JSON.stringify({ type: 'cancel', request_id: requestId }));
            finish(`timed out after ${REQUEST_TIMEOUT_MS} ms`);
          }, REQUEST_TIMEOUT_MS);
          pending.set(requestId, (frame) => {
            if (frame instanceof Error) return finish(frame.message);
            if (frame.code !== undefined && frame.code !== 0)
              return finish(`code ${frame.code}: ${frame.message ?? ''}`);
            const choice = frame.choices?.[0];
            if (choice?.delta?.content) trace.content(choice.delta.content);
            if (choice?.finish_reason) finish();
          });
          socket.send(JSON.stringify({ ...astronBody, request_id: requestId }));
        });
      },
      close: () => closeSockets(sockets.map(({ socket }) => socket)),
    };
  };
}

export type PhaseOutcome = { results: RequestResult[]; elapsedMs: number };

/**
 * Closed loop: `concurrency` workers, each sending its next request as soon as its last one
 * ended, until `requests` were sent or `deadlineMs` passed (then the rest are not sent).
 */
export async function drive(
  session: Session,
  concurrency: number,
  requests: number,
  deadlineMs: number,
): Promise<PhaseOutcome> {
  const results: RequestResult[] = [];
  let sent = 0;
  const startedAt = performance.now();
  const stopAt = startedAt + deadlineMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, slot) => {
      while (sent < requests && performance.now() < stopAt) {
        sent += 1;
        results.push(await session.run(slot));
      }
    }),
  );
  return { results, elapsedMs: performance.now() - startedAt };
}
