import {
  SUCCESS_CODE,
  SUCCESS_MESSAGE,
  type AstronChatRequest,
  type AstronMessage,
  type AstronChunk,
  type AstronCompletion,
  type AstronToolCall,
  type AstronUsage,
  type ChatEvent,
  type Usage,
} from '@astron-chat/shared';
import type { ChatRequest } from '../../chat/chat-request.ts';
import type { ModelMessage } from '../../providers/chat-model.ts';
import { createDeltaFrames } from '../http/delta-frames.ts';
import type { SseWire } from '../http/run-sse.ts';
import type { CollectedAnswer } from '../../chat/collect-answer.ts';

function toModelMessage(message: AstronMessage): ModelMessage {
  if (typeof message.content === 'string') return { role: message.role, content: message.content };
  const text = message.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
  if (message.role !== 'user') return { role: message.role, content: text };
  const parts = message.content.some((part) => part.type !== 'text') ? message.content : undefined;
  return { role: 'user', content: text, ...(parts ? { parts } : {}) };
}

/** The Astron body (REST, tRPC, plain WS) as a core request. */
export function fromAstronRequest(request: AstronChatRequest): ChatRequest {
  const { messages, temperature, max_tokens, top_k, top_p, repetition_penalty, stop_sequences, seed, ...inputs } =
    request.parameters;
  return {
    botId: request.bot_id,
    uid: request.uid,
    chatId: request.chat_id,
    messages: messages.map(toModelMessage),
    parameters: {
      temperature,
      maxTokens: max_tokens,
      topK: top_k,
      topP: top_p,
      repetitionPenalty: repetition_penalty,
      stop: stop_sequences,
      seed,
    },
    inputs,
    caller: request.meta_data?.caller,
    callerSid: request.meta_data?.caller_sid,
  };
}

export function toAstronUsage(usage: Usage): AstronUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
  };
}

function toAstronToolCall(event: Extract<ChatEvent, { type: 'tool-call' }>): AstronToolCall {
  return {
    index: event.index,
    id: event.id,
    type: event.kind,
    reason: event.reason ?? '',
    function: { name: event.name, arguments: event.arguments, response: event.result ?? '' },
  };
}

/** The Astron SSE: `{"ping":"pong"}` data frames as heartbeats, and `data: [DONE]` at the end of every stream. */
export const ASTRON_WIRE: SseWire = {
  transport: 'astron',
  ping: 'data: {"ping":"pong"}\n\n',
  endsWithDone: () => true,
};

/**
 * Frames one run as Astron chunks (SPEC §3). Returns the JSON of a `data:` frame, or undefined
 * for events the format does not show.
 */
export function createAstronFramer(
  start: Extract<ChatEvent, { type: 'run-start' }>,
  extra: Record<string, unknown> = {},
) {
  const head = {
    id: start.runId,
    created: start.created,
    model: start.model,
    object: 'chat.completion.chunk' as const,
  };
  const extraJson = Object.keys(extra).length > 0 ? `,${JSON.stringify(extra).slice(1, -1)}` : '';
  const prefix = `${JSON.stringify(head).slice(0, -1)},"choices":[{"index":0,"delta":{`;
  const suffix = `},"finish_reason":null}],"code":0,"message":"success"${extraJson}}`;
  const deltas = createDeltaFrames(prefix, suffix);
  const chunk = (
    fields: Omit<AstronChunk, keyof typeof head | 'code' | 'message'>,
    code = SUCCESS_CODE,
    message = SUCCESS_MESSAGE,
  ) => JSON.stringify(Object.assign({}, head, fields, { code, message }, extra));

  return (event: ChatEvent): string | undefined => {
    switch (event.type) {
      case 'text-delta':
        return deltas.text(event.text);
      case 'reasoning-delta':
        return deltas.reasoning(event.text);
      case 'run-start':
        return deltas.role;
      case 'tool-call':
        return chunk({
          choices: [{ index: 0, delta: { tool_calls: [toAstronToolCall(event)] }, finish_reason: null }],
        });
      case 'step-start':
      case 'step-end':
        return chunk({
          choices: [{ index: 0, delta: {}, finish_reason: null }],
          workflow_step: { node: event.nodeId, seq: event.stepSeq, progress: event.progress },
        });
      // Astron frames have no audio field, and the Astron route refuses `modalities`: audio is
      // only there for a /v1 run followed through a run-stream read.
      case 'usage':
      case 'logprobs':
      case 'audio-delta':
        return undefined;
      case 'finish':
        return chunk({
          choices: [{ index: 0, delta: {}, finish_reason: event.finishReason }],
          usage: toAstronUsage(event.usage),
        });
      case 'error':
        return chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }, event.code, event.message);
    }
  };
}

export function toAstronCompletion(answer: CollectedAnswer): AstronCompletion {
  return {
    id: answer.start.runId,
    created: answer.start.created,
    model: answer.start.model,
    object: 'chat.completion',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: answer.content,
          ...(answer.reasoning ? { reasoning_content: answer.reasoning } : {}),
          ...(answer.toolCalls.length > 0 ? { tool_calls: answer.toolCalls.map(toAstronToolCall) } : {}),
        },
        finish_reason: answer.error ? 'stop' : (answer.finishReason ?? 'stop'),
      },
    ],
    usage: toAstronUsage(answer.usage),
    code: answer.error?.code ?? SUCCESS_CODE,
    message: answer.error?.message ?? SUCCESS_MESSAGE,
  };
}
