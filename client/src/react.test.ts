import { describe, expect, it } from 'vitest';
import { applyChatEvent, idleChatCompletion, type ChatCompletionState } from './react.ts';

describe('useChatCompletion state', () => {
  it('folds a run’s events: text, reasoning, steps with durations, tool calls, usage, finish', () => {
    const state: ChatCompletionState = { ...idleChatCompletion, status: 'streaming' };
    const usage = { promptTokens: 1, completionTokens: 2, totalTokens: 3 };
    const step = { nodeType: 'llm', stepSeq: 0, progress: 0 } as const;
    applyChatEvent(
      state,
      { seq: 0, type: 'run-start', runId: 'run_1', chatId: 'c', botId: 'b', model: 'm', created: 1 },
      0,
    );
    applyChatEvent(state, { seq: 1, type: 'step-start', nodeId: 'n', status: 'running', ...step }, 10);
    applyChatEvent(state, { seq: 2, type: 'reasoning-delta', text: 'hm' }, 20);
    applyChatEvent(state, { seq: 3, type: 'text-delta', text: 'Hi ' }, 35);
    applyChatEvent(state, { seq: 4, type: 'text-delta', text: 'there' }, 40);
    applyChatEvent(
      state,
      {
        seq: 5,
        type: 'tool-call',
        index: 0,
        id: 't',
        kind: 'tool',
        name: 'calc',
        arguments: '{}',
        result: '1',
        durationMs: 7,
      },
      45,
    );
    applyChatEvent(state, { seq: 6, type: 'step-end', nodeId: 'n', status: 'succeeded', attempt: 2, ...step }, 60);
    applyChatEvent(state, { seq: 7, type: 'finish', finishReason: 'stop', usage }, 61);
    expect(state).toMatchObject({
      status: 'succeeded',
      runId: 'run_1',
      text: 'Hi there',
      reasoning: 'hm',
      timeToFirstTokenMs: 35,
      usage,
      lastSeq: 7,
      steps: [{ nodeId: 'n', status: 'succeeded', attempt: 2, startedAtMs: 10, durationMs: 50 }],
      toolCalls: [{ id: 't', name: 'calc', result: '1', durationMs: 7 }],
    });
  });

  it('ends cancelled or failed as the run did', () => {
    const cancelled: ChatCompletionState = { ...idleChatCompletion, status: 'streaming' };
    const usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
    applyChatEvent(cancelled, { seq: 0, type: 'finish', finishReason: 'cancelled', usage }, 0);
    expect(cancelled.status).toBe('cancelled');
    const failed: ChatCompletionState = { ...idleChatCompletion, status: 'streaming' };
    applyChatEvent(failed, { seq: 0, type: 'error', code: 1005, message: 'timed out', retryable: false }, 0);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 1005, message: 'timed out' } });
  });
});
