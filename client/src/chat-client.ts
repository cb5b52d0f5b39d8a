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
import superjson from 'superjson';
import type { AppRouter } from './app-router.ts';

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
};

export type StreamOptions = {
  signal?: AbortSignal;
  /**
   * The subscription's connection: `connecting` with an `error` while it reconnects after a drop,
   * `pending` once it is (again) receiving. A page shows "reconnecting" from this.
   */
  onConnectionStateChange?: (state: { state: 'idle' | 'connecting' | 'pending'; error: unknown }) => void;
};

/** What the client needs from its platform: Node passes the `ws` and `eventsource` packages, a browser its own. */
export type ChatClientPlatform = {
  WebSocket: typeof globalThis.WebSocket;
  EventSource: typeof globalThis.EventSource;
};

export type ChatClient = {
  trpc: TRPCClient<AppRouter>;
  /**
   * One run as events; ends after `finish` or `error`. Stopping early (break, abort) cancels the run.
   * A connection lost mid-run is retried (over WebSocket with jittered backoff) and resumes the same run after the last
   * event received (the server replays from its run log), so no event is lost or repeated.
   */
  streamCompletion(request: AstronChatRequestInput, options?: StreamOptions): AsyncIterable<ChatEvent>;
  /**
   * Follows a run of the same app (started here, in another tab or by another client): every event
   * from the first, then live, with the same reconnects as `streamCompletion`. Stopping early only
   * stops following; `trpc.chat.runs.cancel` stops the run.
   */
  followRun(runId: string, options?: StreamOptions): AsyncIterable<ChatEvent>;
  /** Closes the WebSocket, if any; open streams end with an error. */
  close(): void;
};

/** A rejected subscription or a stream the client had to stop; `code` is the server's error table code. */
export class ChatClientError extends Error {
  override readonly name = 'ChatClientError';
  readonly code: number;

  constructor(code: number, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
  }
}

export function toChatClientError(error: unknown): ChatClientError {
  if (error instanceof ChatClientError) return error;
  const appCode =
    error instanceof TRPCClientError ? (error.data as { appCode?: unknown } | undefined)?.appCode : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return new ChatClientError(typeof appCode === 'number' ? appCode : errorTable.UNKNOWN_ERROR.code, message, {
    cause: error,
  });
}

/**
 * Reconnect delay with "equal jitter": half the exponential step is fixed, half random, so a server
 * restart is neither hammered at once nor answered by every client in the same instant.
 */
export function jitteredBackoffMs(attemptIndex: number, options: { baseMs?: number; maxMs?: number } = {}): number {
  const ceiling = Math.min(options.maxMs ?? 30_000, (options.baseMs ?? 500) * 2 ** attemptIndex);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** `createChatClient` of either entry (index.ts for Node, browser.ts), given its platform's sockets. */
export function createChatClientFor(platform: ChatClientPlatform, options: ChatClientOptions): ChatClient {
  const { WebSocket, EventSource } = platform;
  const trpcUrl = `${options.url.replace(/\/+$/, '')}/trpc`;
  const connectionParams = { apiKey: options.apiKey };
  const maxBufferedEvents = options.maxBufferedEvents ?? 10_000;

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
          : httpSubscriptionLink({ url: trpcUrl, connectionParams, EventSource, transformer: superjson }),
        false: httpBatchLink({
          url: trpcUrl,
          transformer: superjson,
          headers: { authorization: `Bearer ${options.apiKey}` },
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

  function streamCompletion(request: AstronChatRequestInput, streamOptions: StreamOptions = {}) {
    return subscriptionEvents((handlers) => trpc.chat.completions.subscribe(request, handlers), {
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
    subscribe: (handlers: Handlers) => { unsubscribe(): void },
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

    subscription = subscribe({
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
      onError: fail,
      onComplete() {
        completed = true;
        notify();
      },
      onConnectionStateChange(state) {
        streamOptions.onConnectionStateChange?.(state);
        // httpSubscriptionLink reconnects after a server error it deems retryable (INTERNAL_SERVER_ERROR),
        // which would start the run again. An answer from our server is final; only network errors retry.
        if (state.state === 'connecting' && state.error instanceof TRPCClientError && state.error.data !== undefined) {
          fail(state.error);
        }
      },
    });
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
