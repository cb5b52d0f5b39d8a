import type { AstronChatRequestInput, ChatEvent } from '@astron-chat/shared';
import { errorTable } from '@astron-chat/shared';
import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
  wsLink,
  type TRPCClient,
} from '@trpc/client';
import { EventSource } from 'eventsource';
import superjson from 'superjson';
import type { AppRouter } from './app-router.ts';
import {
  answerError,
  ChatClientError,
  explainUnreachable,
  linkFetch,
  reachingFetch,
  toChatClientError,
} from './errors.ts';

export type ChatClientOptions = {
  /** Server origin, e.g. `http://localhost:8080`; tRPC lives under `/trpc`. */
  url: string;
  /** How subscriptions travel; queries and mutations always go over batched HTTP. */
  transport: 'ws' | 'sse';
  apiKey: string;
  /**
   * Events held for a consumer that reads slower than the server writes. A subscription cannot be
   * paused, so past this many the stream stops with a ChatClientError instead of growing without bound.
   * Default 10 000 events.
   */
  maxBufferedEvents?: number;
  /**
   * How long a stream that lost its connection tries to get it back (resuming the same run) before
   * it ends with a ChatClientError, ms; default 8 000. A stream that never connected (server down,
   * wrong URL, a CORS refusal) ends at its first failure.
   */
  reconnectWindowMs?: number;
};

export type StreamOptions = {
  signal?: AbortSignal;
  /**
   * The subscription's connection: `connecting` with an `error` while it reconnects after a drop,
   * `pending` once it is (again) receiving. A page shows "reconnecting" from this.
   */
  onConnectionStateChange?: (state: { state: 'idle' | 'connecting' | 'pending'; error: unknown }) => void;
};

export type CompletionOptions = StreamOptions & {
  /**
   * Sent with every retry and reconnect of this call, so the server starts one run for it and a
   * retry attaches to that run. Default: a new random key per call. Pass your own to pick a call up
   * again after a page reload (it is kept as long as the run's log, 600 s after the run ends).
   */
  idempotencyKey?: string;
};

/**
 * What the client needs from its platform: Node passes the `ws` package, a browser its own
 * WebSocket. SSE goes through the `eventsource` package everywhere: it runs on `fetch`, so the API
 * key travels in the `authorization` header, never in the URL (a native EventSource cannot send one).
 */
export type ChatClientPlatform = {
  WebSocket: typeof globalThis.WebSocket;
};

export type ChatClient = {
  trpc: TRPCClient<AppRouter>;
  /**
   * One run as events; ends after `finish` or `error`. Stopping early (break, abort) cancels the run.
   * A connection lost mid-run is retried (over WebSocket with jittered backoff) and resumes the same run after the last
   * event received (the server replays from its run log), so no event is lost or repeated; every retry carries the
   * call's idempotency key, so none starts a second run. A server that cannot be reached, refuses the key or the
   * page's origin ends the stream with a ChatClientError (within `reconnectWindowMs` for a connection lost mid-run).
   */
  streamCompletion(request: AstronChatRequestInput, options?: CompletionOptions): AsyncIterable<ChatEvent>;
  /**
   * Follows a run of the same app (started here, in another tab or by another client): every event
   * from the first, then live, with the same reconnects as `streamCompletion`. Stopping early only
   * stops following; `trpc.chat.runs.cancel` stops the run.
   */
  followRun(runId: string, options?: StreamOptions): AsyncIterable<ChatEvent>;
  /** Closes the WebSocket, if any; open streams end with an error. */
  close(): void;
};

/**
 * Reconnect delay with "equal jitter": half the exponential step is fixed, half random, so a server
 * restart is neither hammered at once nor answered by every client in the same instant.
 */
export function jitteredBackoffMs(attemptIndex: number, options: { baseMs?: number; maxMs?: number } = {}): number {
  const ceiling = Math.min(options.maxMs ?? 30_000, (options.baseMs ?? 500) * 2 ** attemptIndex);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** 128 random bits as hex; `crypto.getRandomValues` is there on Node and in every browser, secure context or not. */
export function newIdempotencyKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Per stream: why its last connection attempt failed, from the SSE request that made it. */
type ConnectionReport = { failure: ChatClientError | undefined };

/** `createChatClient` of either entry (index.ts for Node, browser.ts), given its platform's sockets. */
export function createChatClientFor(platform: ChatClientPlatform, options: ChatClientOptions): ChatClient {
  const { WebSocket } = platform;
  const serverUrl = options.url.replace(/\/+$/, '');
  const trpcUrl = `${serverUrl}/trpc`;
  // The WebSocket sends these as its first message, not in the URL.
  const connectionParams = { apiKey: options.apiKey };
  const authorization = { authorization: `Bearer ${options.apiKey}` };
  const maxBufferedEvents = options.maxBufferedEvents ?? 10_000;
  const reconnectWindowMs = options.reconnectWindowMs ?? 8_000;
  const sendAuthorized = reachingFetch(serverUrl, authorization);
  /** An SSE request: the key in its header; a failed attempt's reason kept for the stream's error. */
  const streamFetch =
    (report: ConnectionReport | undefined): typeof fetch =>
    async (input, init) => {
      try {
        const response = await sendAuthorized(input, init);
        if (report) report.failure = response.status === 200 ? undefined : await answerError(serverUrl, response);
        return response;
      } catch (error) {
        if (report && error instanceof ChatClientError) report.failure = error;
        throw error;
      }
    };
  let activeStreams = 0;

  // Lazy: no socket (and no reconnect loop) until the first subscription, closed again when idle.
  const wsClient =
    options.transport === 'ws'
      ? createWSClient({
          url: trpcUrl.replace(/^http/, 'ws'),
          connectionParams,
          WebSocket,
          retryDelayMs: (attemptIndex) => jitteredBackoffMs(attemptIndex),
          lazy: { enabled: true, closeMs: 10_000 },
        })
      : undefined;

  const trpc = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (operation) => operation.type === 'subscription',
        true: wsClient
          ? wsLink<AppRouter>({ client: wsClient, transformer: superjson })
          : httpSubscriptionLink({
              url: trpcUrl,
              EventSource,
              eventSourceOptions: ({ op }) => ({
                fetch: streamFetch((op.context as { connection?: ConnectionReport }).connection),
              }),
              transformer: superjson,
            }),
        false: httpBatchLink({
          url: trpcUrl,
          transformer: superjson,
          headers: authorization,
          fetch: linkFetch(serverUrl),
        }),
      }),
    ],
  });

  type ConnectionState = Parameters<NonNullable<StreamOptions['onConnectionStateChange']>>[0];
  type Handlers = {
    onData(envelope: { data: ChatEvent }): void;
    onError(error: unknown): void;
    onComplete(): void;
    onConnectionStateChange(state: ConnectionState): void;
  };

  function streamCompletion(request: AstronChatRequestInput, completionOptions: CompletionOptions = {}) {
    const { idempotencyKey = newIdempotencyKey(), ...streamOptions } = completionOptions;
    // In the input, so tRPC sends it again with every reconnect (and `lastEventId` once it has one).
    const input = { ...request, idempotencyKey };
    return subscriptionEvents((handlers) => trpc.chat.completions.subscribe(input, handlers), {
      ...streamOptions,
      cancelOnEarlyExit: true,
    });
  }

  function followRun(runId: string, streamOptions: StreamOptions = {}) {
    return subscriptionEvents((handlers) => trpc.chat.runs.stream.subscribe({ runId }, handlers), {
      ...streamOptions,
      cancelOnEarlyExit: false,
    });
  }

  async function* subscriptionEvents(
    subscribe: (handlers: Handlers & { context: { connection: ConnectionReport } }) => { unsubscribe(): void },
    streamOptions: StreamOptions & { cancelOnEarlyExit: boolean },
  ): AsyncGenerator<ChatEvent> {
    const { signal } = streamOptions;
    signal?.throwIfAborted();
    const queue: ChatEvent[] = [];
    let failure: ChatClientError | undefined;
    let completed = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    // Declared first because a link may report an error while `subscribe` is still running.
    // eslint-disable-next-line prefer-const -- assigned below, read by callbacks that may run before that
    let subscription: { unsubscribe(): void } | undefined;
    const fail = (error: unknown) => {
      failure ??= toChatClientError(error);
      subscription?.unsubscribe();
      notify();
    };

    const connection: ConnectionReport = { failure: undefined };
    /** Whether this stream's connection was up once: only then is a loss retried, for `reconnectWindowMs`. */
    let connected = false;
    let subscribing = true;
    let reconnecting: ReturnType<typeof setTimeout> | undefined;
    /** No answer: what the failed SSE request learned, else why the server could not be reached. */
    const unreachable = (error: unknown) => {
      if (connection.failure) fail(connection.failure);
      else void explainUnreachable(serverUrl, error).then(fail);
    };
    activeStreams += 1;
    subscription = subscribe({
      context: { connection },
      onData(envelope) {
        if (queue.length >= maxBufferedEvents) {
          fail(
            new ChatClientError(
              errorTable.OVERLOADED.code,
              `The consumer fell more than ${maxBufferedEvents} events behind; the stream was stopped.`,
            ),
          );
          return;
        }
        queue.push(envelope.data);
        notify();
      },
      onError(error) {
        // The server's own answer wins; else what the failed request was told (a non-200 status).
        const answered = error instanceof TRPCClientError && error.data !== undefined;
        fail(answered ? error : (connection.failure ?? error));
      },
      onComplete() {
        completed = true;
        notify();
      },
      onConnectionStateChange(state) {
        streamOptions.onConnectionStateChange?.(state);
        if (state.state === 'pending') {
          connected = true;
          clearTimeout(reconnecting);
          reconnecting = undefined;
          return;
        }
        if (state.state !== 'connecting' || !state.error) return;
        // httpSubscriptionLink reconnects after a server error it deems retryable (INTERNAL_SERVER_ERROR),
        // which would start the run again. An answer from our server is final; only network errors retry.
        if (state.error instanceof TRPCClientError && state.error.data !== undefined) {
          fail(state.error);
          return;
        }
        // The shared WebSocket's state from before this stream: its own attempt reports again.
        if (subscribing) return;
        if (!connected) unreachable(state.error);
        else reconnecting ??= setTimeout(() => unreachable(state.error), reconnectWindowMs);
      },
    });
    subscribing = false;
    if (failure) subscription.unsubscribe();
    signal?.addEventListener('abort', notify, { once: true });
    let runId: string | undefined;
    let ended = false;

    try {
      for (;;) {
        signal?.throwIfAborted();
        const event = queue.shift();
        if (event) {
          if (event.type === 'run-start') runId = event.runId;
          if (event.type === 'finish' || event.type === 'error') ended = true;
          yield event;
          if (ended) return;
          continue;
        }
        if (failure) throw failure;
        if (completed) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      subscription.unsubscribe();
      clearTimeout(reconnecting);
      activeStreams -= 1;
      // No stream left to serve: a WebSocket still trying to reconnect stops (a new stream opens it again).
      if (activeStreams === 0 && wsClient?.connectionState.get().state === 'connecting') void wsClient.close();
      signal?.removeEventListener('abort', notify);
      // Runs outlive their connection (a reconnect resumes them), so stopping early is said out loud.
      if (streamOptions.cancelOnEarlyExit && runId && !ended)
        await trpc.chat.runs.cancel.mutate({ runId }).catch(() => undefined);
    }
  }

  return {
    trpc,
    streamCompletion,
    followRun,
    close() {
      void wsClient?.close();
    },
  };
}
