import {
  OPENAI_FORWARDED_FIELDS,
  errorNameOf,
  errorTable,
  type ChatEvent,
  type OpenAIAudio,
  type OpenAIChatRequest,
  type OpenAIChunk,
  type OpenAICompletion,
  type OpenAIErrorBody,
  type OpenAIForwardedFields,
  type OpenAIMessage,
  type OpenAIUsage,
  type Usage,
} from '@astron-chat/shared';
import { AppError } from '../../errors/app-error.ts';
import type { ChatRequest } from '../../chat/chat-request.ts';
import { createDeltaFrames } from '../http/delta-frames.ts';
import type { SseWire } from '../http/run-sse.ts';
import type { CollectedAnswer } from '../../chat/collect-answer.ts';
import type { ModelMessage } from '../../providers/chat-model.ts';

type AnyContent = Extract<OpenAIMessage, { role: 'user' }>['content'] | OpenAIMessage['content'] | null | undefined;

function textOf(content: AnyContent): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part) => (part.type === 'text' ? part.text : part.type === 'refusal' ? part.refusal : ''))
    .join('');
}

/** The parts of a user message, kept only when there is more than text in them. */
function partsOf(content: Extract<OpenAIMessage, { role: 'user' }>['content']) {
  return typeof content !== 'string' && content.some((part) => part.type !== 'text') ? content : undefined;
}

function forwardedFieldsOf(request: OpenAIChatRequest): OpenAIForwardedFields | undefined {
  const forwarded: Record<string, unknown> = {};
  // null means "the default" in OpenAI's API, the same as leaving the field out.
  for (const field of OPENAI_FORWARDED_FIELDS) if (request[field] != null) forwarded[field] = request[field];
  return Object.keys(forwarded).length > 0 ? forwarded : undefined;
}

function toModelMessage(message: OpenAIMessage): ModelMessage {
  switch (message.role) {
    case 'system':
    case 'developer':
      return { role: 'system', content: textOf(message.content) };
    case 'user': {
      const parts = partsOf(message.content);
      return { role: 'user', content: textOf(message.content), ...(parts ? { parts } : {}) };
    }
    case 'assistant':
      return {
        role: 'assistant',
        content: textOf(message.content),
        ...(message.audio ? { audio: { id: message.audio.id } } : {}),
        ...(message.tool_calls
          ? {
              toolCalls: message.tool_calls.map((call) => ({
                id: call.id,
                name: call.function.name,
                arguments: call.function.arguments,
              })),
            }
          : {}),
      };
    case 'tool':
      return { role: 'tool', content: textOf(message.content), toolCallId: message.tool_call_id };
  }
}

/** An OpenAI body as a core request; `model` names the bot. */
export function fromOpenAIRequest(request: OpenAIChatRequest & { chat_id?: string | undefined }): ChatRequest {
  const last = request.messages.at(-1);
  if (last && last.role !== 'user' && last.role !== 'tool') {
    throw new AppError(
      'VALIDATION_ERROR',
      `messages.${request.messages.length - 1}.role: the last message must have role "user" or "tool", got "${last.role}"`,
      {
        param: `messages.${request.messages.length - 1}.role`,
      },
    );
  }
  // As OpenAI: audio out needs its format and voice.
  if (request.modalities?.includes('audio') && !request.audio) {
    throw new AppError('VALIDATION_ERROR', 'audio: required when modalities holds "audio" (its format and voice).', {
      param: 'audio',
    });
  }
  return {
    botId: request.model,
    uid: request.user ?? '',
    chatId: request.chat_id,
    messages: request.messages.map(toModelMessage),
    parameters: {
      temperature: request.temperature ?? undefined,
      topP: request.top_p ?? undefined,
      maxTokens: request.max_tokens ?? undefined,
      maxCompletionTokens: request.max_completion_tokens ?? undefined,
      stop: typeof request.stop === 'string' ? [request.stop] : (request.stop ?? undefined),
      seed: request.seed ?? undefined,
    },
    tools: request.tools,
    toolChoice: request.tool_choice,
    forwarded: forwardedFieldsOf(request),
  };
}

export function toOpenAIUsage(usage: Usage): OpenAIUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    ...(usage.cachedPromptTokens === undefined
      ? {}
      : { prompt_tokens_details: { cached_tokens: usage.cachedPromptTokens } }),
  };
}

/**
 * Tool calls the server ran itself (agent tools, workflow tools) carry their result: they stay on
 * our side of the wire, where an SDK's tool loop would try to run them again. The run keeps them
 * (`GET /agent/v1/runs/{id}`). Calls for the caller's own `tools` have no result and pass.
 */
export function isCallerToolCall(event: { result?: string | undefined }): boolean {
  return event.result === undefined;
}

export function toOpenAIErrorBody(error: {
  code: number;
  message: string;
  param?: string | undefined;
}): OpenAIErrorBody {
  return {
    error: {
      message: error.message,
      type: errorTable[errorNameOf(error.code)].openaiType,
      param: error.param ?? null,
      code: String(error.code),
    },
  };
}

/** Frames a run as OpenAI chunks, exactly as OpenAI sends them (plus DeepSeek's `reasoning_content`). */
export function createOpenAIFramer(options: { id: string; created: number; model: string; includeUsage: boolean }) {
  const head = {
    id: options.id,
    object: 'chat.completion.chunk' as const,
    created: options.created,
    model: options.model,
    system_fingerprint: null,
  };
  const usageField = options.includeUsage ? ',"usage":null' : '';
  const prefix = `${JSON.stringify(head).slice(0, -1)},"choices":[{"index":0,"delta":{`;
  const suffix = `},"logprobs":null,"finish_reason":null}]${usageField}}`;
  const deltas = createDeltaFrames(prefix, suffix);
  const chunk = (choices: OpenAIChunk['choices'], usage?: OpenAIUsage) =>
    JSON.stringify(
      Object.assign({}, head, {
        choices,
        ...(options.includeUsage ? { usage: usage ?? null } : {}),
      }) satisfies OpenAIChunk,
    );

  /** Returns the `data:` payloads for one event (the finish event may need two). */
  return (event: ChatEvent): string[] | string | undefined => {
    switch (event.type) {
      case 'text-delta':
        return deltas.text(event.text);
      case 'reasoning-delta':
        return deltas.reasoning(event.text);
      case 'run-start':
        return deltas.role;
      case 'tool-call':
        if (!isCallerToolCall(event)) return undefined;
        return chunk([
          {
            index: 0,
            delta: {
              tool_calls: [
                {
                  index: event.index,
                  id: event.id,
                  type: 'function',
                  function: { name: event.name, arguments: event.arguments },
                },
              ],
            },
            logprobs: null,
            finish_reason: null,
          },
        ]);
      case 'logprobs':
        return chunk([
          { index: 0, delta: {}, logprobs: { content: event.content, refusal: null }, finish_reason: null },
        ]);
      case 'audio-delta':
        return chunk([{ index: 0, delta: { audio: toOpenAIAudioPiece(event) }, logprobs: null, finish_reason: null }]);
      case 'finish': {
        const last = chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: event.finishReason }]);
        return options.includeUsage ? [last, chunk([], toOpenAIUsage(event.usage))] : last;
      }
      case 'error':
        return JSON.stringify(toOpenAIErrorBody(event));
      case 'usage':
      case 'step-start':
      case 'step-end':
        return undefined;
    }
  };
}

function toOpenAIAudioPiece(event: Extract<ChatEvent, { type: 'audio-delta' }>): Partial<OpenAIAudio> {
  const piece: Partial<OpenAIAudio> = {};
  if (event.id !== undefined) piece.id = event.id;
  if (event.data !== undefined) piece.data = event.data;
  if (event.transcript !== undefined) piece.transcript = event.transcript;
  if (event.expiresAt !== undefined) piece.expires_at = event.expiresAt;
  return piece;
}

export function toOpenAICompletion(answer: CollectedAnswer, options: { id: string; model: string }): OpenAICompletion {
  const toolCalls = answer.toolCalls.filter(isCallerToolCall);
  return {
    id: options.id,
    object: 'chat.completion',
    created: answer.start.created,
    model: options.model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          // As OpenAI: an answer given as audio (or as tool calls only) has no content.
          content: answer.content || (toolCalls.length > 0 || answer.audio ? null : ''),
          ...(answer.reasoning ? { reasoning_content: answer.reasoning } : {}),
          refusal: null,
          ...(toolCalls.length > 0
            ? {
                tool_calls: toolCalls.map((call) => ({
                  id: call.id,
                  type: 'function' as const,
                  function: { name: call.name, arguments: call.arguments },
                })),
              }
            : {}),
          ...(answer.audio
            ? {
                audio: {
                  id: answer.audio.id,
                  data: answer.audio.data,
                  expires_at: answer.audio.expiresAt,
                  transcript: answer.audio.transcript,
                },
              }
            : {}),
        },
        logprobs: answer.logprobs ? { content: answer.logprobs, refusal: null } : null,
        finish_reason: answer.finishReason ?? 'stop',
      },
    ],
    usage: toOpenAIUsage(answer.usage),
  };
}

/** The `/v1` SSE: comment heartbeats, and `data: [DONE]` at the end unless the stream ended in an error, as OpenAI. */
export const OPENAI_WIRE: SseWire = {
  transport: 'openai',
  ping: ': ping\n\n',
  endsWithDone: (failed) => !failed,
};
