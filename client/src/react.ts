// `@astron-chat/client/react`: one streamed answer as React state. Events are folded into a plain
// object as they arrive and React is told once per animation frame, so a 5,000-delta answer costs
// a few hundred renders, not 5,000.
import type { AstronChatRequestInput, ChatEvent, FinishReason, Usage } from '@astron-chat/shared';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ChatClient } from './chat-client.ts';
import { toChatClientError } from './errors.ts';

export type ToolCallView = {
  id: string;
  kind: string;
  name: string;
  arguments: string;
  result: string | undefined;
  reason: string | undefined;
  durationMs: number | undefined;
};

export type StepView = {
  nodeId: string;
  nodeType: string;
  status: 'running' | 'succeeded' | 'failed' | 'skipped';
  attempt: number;
  error: string | undefined;
  /** Milliseconds after the run started (as seen by this page). */
  startedAtMs: number;
  durationMs: number | undefined;
};

export type ChatCompletionState = {
  /**
   * `streaming` while events arrive, `reconnecting` while a dropped connection is retried, then how
   * the run ended: `succeeded`, `cancelled` (stopped; the text so far is kept) or `failed`.
   */
  status: 'idle' | 'streaming' | 'reconnecting' | 'succeeded' | 'cancelled' | 'failed';
  runId: string | undefined;
  chatId: string | null | undefined;
  botId: string | undefined;
  model: string | undefined;
  text: string;
  reasoning: string;
  toolCalls: ToolCallView[];
  steps: StepView[];
  usage: Usage | undefined;
  finishReason: FinishReason | undefined;
  error: { code: number; message: string } | undefined;
  /** From starting (or following) to the first text, as this page saw it. */
  timeToFirstTokenMs: number | undefined;
  /** Sequence number of the last event folded in. */
  lastSeq: number;
};

export const idleChatCompletion: ChatCompletionState = {
  status: 'idle',
  runId: undefined,
  chatId: undefined,
  botId: undefined,
  model: undefined,
  text: '',
  reasoning: '',
  toolCalls: [],
  steps: [],
  usage: undefined,
  finishReason: undefined,
  error: undefined,
  timeToFirstTokenMs: undefined,
  lastSeq: -1,
};

/** Folds one event into the state (mutating `state`, which the hook owns). Exported for tests and other views. */
export function applyChatEvent(state: ChatCompletionState, event: ChatEvent, elapsedMs: number): void {
  state.lastSeq = Math.max(state.lastSeq, event.seq);
  switch (event.type) {
    case 'run-start':
      state.runId = event.runId;
      state.chatId = event.chatId;
      state.botId = event.botId;
      state.model = event.model;
      break;
    case 'text-delta':
      state.timeToFirstTokenMs ??= Math.round(elapsedMs);
      state.text += event.text;
      break;
    case 'reasoning-delta':
      state.reasoning += event.text;
      break;
    case 'tool-call':
      state.toolCalls = [
        ...state.toolCalls.filter((call) => call.id !== event.id),
        {
          id: event.id,
          kind: event.kind,
          name: event.name,
          arguments: event.arguments,
          result: event.result,
          reason: event.reason,
          durationMs: event.durationMs,
        },
      ];
      break;
    case 'step-start':
    case 'step-end': {
      const attempt = event.attempt ?? 1;
      const previous = state.steps.find((step) => step.nodeId === event.nodeId);
      const step: StepView = {
        nodeId: event.nodeId,
        nodeType: event.nodeType,
        status: event.status,
        attempt,
        error: event.error,
        startedAtMs: previous && event.type === 'step-end' ? previous.startedAtMs : Math.round(elapsedMs),
        durationMs:
          event.type === 'step-end' && previous ? Math.max(0, Math.round(elapsedMs - previous.startedAtMs)) : undefined,
      };
      state.steps = previous
        ? state.steps.map((existing) => (existing === previous ? step : existing))
        : [...state.steps, step];
      break;
    }
    case 'usage':
      state.usage = event.usage;
      break;
    case 'finish':
      state.usage = event.usage;
      state.finishReason = event.finishReason;
      state.status = event.finishReason === 'cancelled' ? 'cancelled' : 'succeeded';
      break;
    case 'error':
      state.error = { code: event.code, message: event.message };
      state.status = 'failed';
      break;
    case 'logprobs':
    case 'audio-delta':
      // Token log-probabilities and audio are for callers that asked for them (onEvent); the view shows none.
      break;
  }
}

export type UseChatCompletionOptions = {
  /** Every event as it arrives (before the next frame's render), e.g. to speak sentences as they complete. */
  onEvent?: (event: ChatEvent) => void;
  /** Told the run id as soon as it is known (a page keeps it to resume after a reload). */
  onRunId?: (runId: string) => void;
};

export type ChatCompletion = {
  state: ChatCompletionState;
  /** Starts a run; a run still streaming is stopped first. */
  start: (request: AstronChatRequestInput) => void;
  /** Follows a run by id from its first event (a follow link, or resuming after a reload). */
  follow: (runId: string) => void;
  /** Cancels the run at once; the text so far stays, with status `cancelled`. */
  stop: () => void;
  /** Back to idle, without cancelling (a follower leaving). */
  reset: () => void;
};

const nextFrame: (callback: () => void) => void =
  (globalThis as { requestAnimationFrame?: (callback: () => void) => number }).requestAnimationFrame?.bind(
    globalThis,
  ) ?? ((callback) => setTimeout(callback, 16));

export function useChatCompletion(
  client: ChatClient | undefined,
  options: UseChatCompletionOptions = {},
): ChatCompletion {
  const [state, setState] = useState<ChatCompletionState>(idleChatCompletion);
  const live = useRef<{ controller: AbortController; state: ChatCompletionState } | undefined>(undefined);
  const optionsRef = useRef(options);
  optionsRef.current = options;
  const frameScheduled = useRef(false);

  const publish = useCallback(() => {
    if (frameScheduled.current) return;
    frameScheduled.current = true;
    nextFrame(() => {
      frameScheduled.current = false;
      const current = live.current;
      if (current) setState({ ...current.state });
    });
  }, []);

  const run = useCallback(
    (
      events: (signal: AbortSignal, onConnection: (reconnecting: boolean) => void) => AsyncIterable<ChatEvent>,
      startedAt = performance.now(),
    ) => {
      live.current?.controller.abort();
      const controller = new AbortController();
      const current = {
        controller,
        state: { ...idleChatCompletion, status: 'streaming' as ChatCompletionState['status'] },
      };
      live.current = current;
      publish();
      void (async () => {
        try {
          const onConnection = (reconnecting: boolean) => {
            if (current.state.status !== 'streaming' && current.state.status !== 'reconnecting') return;
            current.state.status = reconnecting ? 'reconnecting' : 'streaming';
            publish();
          };
          for await (const event of events(controller.signal, onConnection)) {
            if (event.type === 'run-start') optionsRef.current.onRunId?.(event.runId);
            applyChatEvent(current.state, event, performance.now() - startedAt);
            optionsRef.current.onEvent?.(event);
            publish();
          }
          if (current.state.status === 'streaming' || current.state.status === 'reconnecting') {
            current.state.status = 'succeeded';
          }
        } catch (error) {
          if (controller.signal.aborted) return;
          const failure = toChatClientError(error);
          current.state.status = 'failed';
          current.state.error = { code: failure.code, message: failure.message };
        }
        publish();
      })();
    },
    [publish],
  );

  const follow = useCallback(
    (runId: string) => {
      if (!client) return;
      optionsRef.current.onRunId?.(runId);
      run((signal, onConnection) =>
        client.followRun(runId, {
          signal,
          onConnectionStateChange: ({ state: connection, error }) =>
            onConnection(connection === 'connecting' && error != null),
        }),
      );
    },
    [client, run],
  );

  /*
   * A run is created, then followed: leaving or reloading the page only stops following (the run goes
   * on and a reload picks it up again with `follow`); only `stop` cancels it.
   */
  const start = useCallback(
    (request: AstronChatRequestInput) => {
      if (!client) return;
      live.current?.controller.abort();
      const controller = new AbortController();
      const startedAt = performance.now();
      const current = {
        controller,
        state: { ...idleChatCompletion, status: 'streaming' as ChatCompletionState['status'] },
      };
      live.current = current;
      publish();
      client.trpc.chat.runs.create.mutate(request).then(
        ({ runId }) => {
          // Stopped before the run had an id: cancel it now that it has one.
          if (controller.signal.aborted) {
            if (current.state.status === 'cancelled')
              void client.trpc.chat.runs.cancel.mutate({ runId }).catch(() => undefined);
            return;
          }
          optionsRef.current.onRunId?.(runId);
          run(
            (signal, onConnection) =>
              client.followRun(runId, {
                signal,
                onConnectionStateChange: ({ state: connection, error }) =>
                  onConnection(connection === 'connecting' && error != null),
              }),
            startedAt,
          );
        },
        (error: unknown) => {
          if (controller.signal.aborted) return;
          const failure = toChatClientError(error);
          current.state.status = 'failed';
          current.state.error = { code: failure.code, message: failure.message };
          publish();
        },
      );
    },
    [client, run, publish],
  );

  const stop = useCallback(() => {
    const current = live.current;
    if (!current || (current.state.status !== 'streaming' && current.state.status !== 'reconnecting')) return;
    current.state.status = 'cancelled';
    current.state.finishReason = 'cancelled';
    current.controller.abort();
    const { runId } = current.state;
    if (runId && client) void client.trpc.chat.runs.cancel.mutate({ runId }).catch(() => undefined);
    setState({ ...current.state });
  }, [client]);

  const reset = useCallback(() => {
    live.current?.controller.abort();
    live.current = undefined;
    setState(idleChatCompletion);
  }, []);

  // Leaving the page stops following; a run this page started is cancelled by streamCompletion.
  useEffect(() => () => live.current?.controller.abort(), []);

  return { state, start, follow, stop, reset };
}
