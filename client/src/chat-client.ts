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
import { WebSocket } from 'ws';
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

export type StreamOptions = { signal?: AbortSignal };

export type ChatClient = {
  trpc: TRPCClient<AppRouter>;
  /**
   * One run as events; ends after `finish` or `error`. Stopping early (break, abort) cancels the run.
   * A connection lost mid-run is retried (over WebSocket with jittered backoff) and resumes the same run after the last
   * event received (the server replays from its run log), so no event is lost or repeated.
   */
  streamCompletion(request: AstronChatRequestInput, options?: StreamOptions): AsyncIterable<ChatEvent>;
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

export function createChatClient(options: ChatClientOptions): ChatClient {
  const trpcUrl = `${options.url.replace(/\/+$/, '')}/trpc`;
  const connectionParams = { apiKey: options.apiKey };
  const maxBufferedEvents = options.maxBufferedEvents ?? 10_000;

  // Lazy: no socket (and no reconnect loop) until the first subscription, closed again when idle.
  const wsClient =
    options.transport === 'ws'
      ? createWSClient({
          url: trpcUrl.replace(/^http/, 'ws'),
          connectionParams,
          // Node 20 has no global WebSocket.
          WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
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

  async function* streamCompletion(
    request: AstronChatRequestInput,
    streamOptions: StreamOptions = {},
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

    subscription = trpc.chat.completions.subscribe(request, {
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
        // httpSubscriptionLink reconnects after a server error it deems retryable (INTERNAL_SERVER_ERROR),
        // which would start the run again. An answer from our server is final; only network errors retry.
        if (state.state === 'connecting' && state.error?.data !== undefined) fail(state.error);
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
      if (runId && !ended) await trpc.chat.runs.cancel.mutate({ runId }).catch(() => undefined);
    }
  }

  return {
    trpc,
    streamCompletion,
    close() {
      void wsClient?.close();
    },
  };
}
