import type { RetryOverride } from '../errors/retry-policy.ts';
import type {
  ContentPart,
  FinishReason,
  OpenAIForwardedFields,
  OpenAITool,
  OpenAIToolChoice,
  Usage,
} from '@astron-chat/shared';

export type ModelMessage =
  | { role: 'system'; content: string }
  /**
   * `content` is the text (what audits, templates and history budgets read); `parts`, when the
   * caller sent images, audio or files, is the whole message as the upstream gets it.
   */
  | { role: 'user'; content: string; parts?: ContentPart[] | undefined }
  | {
      role: 'assistant';
      content: string;
      toolCalls?: Array<{ id: string; name: string; arguments: string }>;
      /**
       * An earlier audio answer the upstream still holds, sent as `audio: {id}` (OpenAI's
       * follow-up turn). From history it carries its transcript and expiry: once expired the
       * transcript goes as the text instead.
       */
      audio?: AudioReference | undefined;
    }
  | { role: 'tool'; content: string; toolCallId: string };

export type AudioReference = {
  id: string;
  /** Unix seconds; unknown for a reference the caller sent. */
  expiresAt?: number | undefined;
  transcript?: string | undefined;
};

export type ModelParameters = {
  temperature?: number | undefined;
  topP?: number | undefined;
  topK?: number | undefined;
  maxTokens?: number | undefined;
  /** Sent as `max_completion_tokens`, which reasoning models take instead of `max_tokens`. */
  maxCompletionTokens?: number | undefined;
  stop?: string[] | undefined;
  seed?: number | undefined;
  repetitionPenalty?: number | undefined;
};

/** Who a model call is for, and where to say which provider answered it (providers/resilient-model.ts). */
export type ModelCallContext = {
  /** The app the call runs for: a provider's allow-list is checked against it. */
  appId?: string | undefined;
  /** Called once per model call, when a provider's first part arrives. */
  onAnswer?: ((answer: { provider: string; model: string }) => void) | undefined;
  /** A workflow node's own `retry` settings, which override the retry table. */
  retry?: RetryOverride | undefined;
};

export type ModelRequest = {
  messages: ModelMessage[];
  parameters: ModelParameters;
  tools?: OpenAITool[];
  toolChoice?: OpenAIToolChoice;
  user?: string;
  /** OpenAI fields a chat bot forwards to its upstream exactly as the caller sent them. */
  forwarded?: OpenAIForwardedFields | undefined;
  /**
   * Given, when the call starts, the usage it will leave unreported: settled as the call ends, with
   * the usage estimated from what was sent and streamed if it stopped (cancelled, failed) before
   * the provider reported any, else with undefined. The core waits for it before it records a run
   * that was stopped, whose model calls may still be winding down.
   */
  trackUnreportedUsage?: ((usage: Promise<Usage | undefined>) => void) | undefined;
  context?: ModelCallContext | undefined;
  /** W3C trace context for the upstream request (`traceparent`), when tracing is on. */
  traceHeaders?: Record<string, string>;
};

/**
 * What a model streams; the core numbers these and turns them into ChatEvents as they are. A tool
 * call comes whole, once the model has streamed all of it (providers assemble the deltas), and
 * before `finish`.
 */
export type ModelPart =
  | { type: 'text-delta'; text: string }
  | { type: 'reasoning-delta'; text: string }
  | { type: 'tool-call'; index: number; id: string; kind: 'tool'; name: string; arguments: string }
  | { type: 'usage'; usage: Usage }
  /** Log probabilities of the tokens just streamed, as the upstream sent them (`logprobs.content`). */
  | { type: 'logprobs'; content: unknown[] }
  /** A piece of an audio answer: `data` (base64) and `transcript` to append, `id` and `expiresAt` (Unix s) to set. */
  | { type: 'audio-delta'; id?: string; data?: string; transcript?: string; expiresAt?: number }
  | { type: 'finish'; finishReason: FinishReason };

export interface ChatModel {
  /** The model name shown to callers. */
  readonly modelName: string;
  /** Streams the answer; aborting `signal` must stop upstream work at once. */
  stream(request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelPart>;
}

export function toFinishReason(value: string | null | undefined): FinishReason {
  switch (value) {
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return value;
    case 'function_call':
      return 'tool_calls';
    default:
      return 'stop';
  }
}
