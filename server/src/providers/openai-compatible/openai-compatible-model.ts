import type { Usage } from '@astron-chat/shared';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Dispatcher } from 'undici';
import { AppError, isAbortError } from '../../errors/app-error.ts';
import { createId } from '../../lib/ids.ts';
import {
  toFinishReason,
  type AudioReference,
  type ChatModel,
  type ModelPart,
  type ModelRequest,
} from '../chat-model.ts';
import { ProviderError, toConnectionError } from '../provider-error.ts';
import { estimateUsage } from '../token-estimate.ts';
import { sendUpstream, type UpstreamRequest, type UpstreamResponse } from './upstream-response.ts';

export type OpenAICompatibleOptions = {
  /** Base URL including the version path, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  apiKey?: string | undefined;
  /** Upstream model id sent in the request. */
  model: string;
  /** Extra request headers (a provider's own, e.g. an organisation id); ours win on a clash. */
  headers?: Record<string, string> | undefined;
  /** undici dispatcher (connection pool); the global one by default. */
  dispatcher?: Dispatcher | undefined;
  /** A provider's concurrency cap: taken before the request (throws when full), given back when it ends. */
  slots?: { acquire(): void; release(): void } | undefined;
};

const MAX_ERROR_BODY_BYTES = 8 * 1024;
/** `TextDecoder.decode` options for a body read in pieces, made once rather than per chunk. */
const STREAMING = { stream: true } as const;

/** Streams from any OpenAI-compatible `/chat/completions` endpoint. */
export function createOpenAICompatibleModel(options: OpenAICompatibleOptions): ChatModel {
  const url = new URL('chat/completions', options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  const headers: Record<string, string> = {
    ...options.headers,
    'content-type': 'application/json',
    accept: 'text/event-stream',
  };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

  return {
    modelName: options.model,
    async *stream(modelRequest: ModelRequest, signal: AbortSignal): AsyncGenerator<ModelPart> {
      let unreported: ((usage: Usage | undefined) => void) | undefined;
      modelRequest.trackUnreportedUsage?.(new Promise((resolve) => (unreported = resolve)));
      options.slots?.acquire();
      let response: UpstreamResponse;
      try {
        response = await send(url, {
          method: 'POST',
          // `traceparent` when tracing is on (observability/model-calls.ts); one object per call only then.
          headers: modelRequest.traceHeaders ? { ...headers, ...modelRequest.traceHeaders } : headers,
          body: JSON.stringify(toUpstreamBody(options.model, modelRequest)),
          signal,
          dispatcher: options.dispatcher,
        });
      } catch (error) {
        unreported?.(undefined);
        options.slots?.release();
        throw error;
      }
      let reader: ChunkReader | undefined;
      let usageKnown = false;
      try {
        if (response.statusCode < 200 || response.statusCode >= 300) {
          throw ProviderError.fromStatus(response.statusCode, await readErrorDetail(response), response.retryAfter);
        }
        reader = createChunkReader();
        const decoder = new TextDecoder();
        for (let bytes = await response.read(); bytes !== undefined; bytes = await response.read()) {
          reader.parser.feed(decoder.decode(bytes, STREAMING));
          // Parts read before a bad chunk still reach the caller; then the error ends the stream.
          if (reader.parts.length > 0) {
            for (const part of reader.parts.splice(0)) {
              if (part.type === 'usage') usageKnown = true;
              yield part;
            }
          }
          if (reader.error) throw reader.error;
          // No break on [DONE]: reading the body to its end lets undici reuse the connection,
          // where leaving early closes the socket.
        }
        if (reader.finishReason === undefined) {
          throw new ProviderError('Model provider closed the stream before it finished', { retryable: true });
        }
        for (const [index, call] of reader.toolCalls.entries()) {
          if (!call) continue;
          const { id, name, arguments: callArguments } = call;
          yield { type: 'tool-call', index, id: id || createId('call'), kind: 'tool', name, arguments: callArguments };
        }
        if (!usageKnown) {
          // Asked for (stream_options.include_usage) but not sent: counted here, and flagged so.
          usageKnown = true;
          yield { type: 'usage', usage: await estimateUsage(modelRequest, reader.streamed) };
        }
        yield { type: 'finish', finishReason: reader.finishReason };
      } catch (error) {
        // A body read that failed is the provider's connection breaking (reset, closed, timed out).
        if (error instanceof AppError || isAbortError(error)) throw error;
        throw toConnectionError(error, url.host, 'stream');
      } finally {
        // Leaving early (client gone, error) must close the upstream socket now.
        response.close();
        options.slots?.release();
        // Stopped mid-answer (cancelled, failed): what was streamed until then is still billed upstream.
        unreported?.(reader && !usageKnown ? await estimateUsage(modelRequest, reader.streamed) : undefined);
      }
    },
  };
}

async function send(url: URL, request: UpstreamRequest): Promise<UpstreamResponse> {
  try {
    return await sendUpstream(url, request);
  } catch (error) {
    if (isAbortError(error)) throw error;
    throw toConnectionError(error, url.host, 'connect');
  }
}

function toUpstreamBody(model: string, modelRequest: ModelRequest): Record<string, unknown> {
  const { parameters } = modelRequest;
  // The caller's OpenAI fields first, exactly as sent; ours (stream, messages, …) cannot be overridden.
  return Object.assign({}, modelRequest.forwarded, {
    model,
    stream: true,
    stream_options: { include_usage: true },
    messages: modelRequest.messages.map((message) => {
      switch (message.role) {
        case 'tool':
          return { role: 'tool', content: message.content, tool_call_id: message.toolCallId };
        case 'assistant': {
          // An earlier audio answer goes by its id while the upstream holds it, else as its transcript.
          const audio = message.audio && isHeld(message.audio) ? { audio: { id: message.audio.id } } : undefined;
          const content = message.content || (audio ? '' : (message.audio?.transcript ?? ''));
          if (message.toolCalls?.length) {
            return {
              role: 'assistant',
              content: content || null,
              tool_calls: message.toolCalls.map((call) => ({
                id: call.id,
                type: 'function',
                function: { name: call.name, arguments: call.arguments },
              })),
              ...audio,
            };
          }
          // OpenAI takes `{role, audio: {id}}` without content.
          return audio
            ? { role: 'assistant', ...audio, ...(content ? { content } : {}) }
            : { role: 'assistant', content };
        }
        case 'user':
          return { role: 'user', content: message.parts ?? message.content };
        case 'system':
          return message;
      }
    }),
    temperature: parameters.temperature,
    top_p: parameters.topP,
    max_tokens: parameters.maxTokens,
    max_completion_tokens: parameters.maxCompletionTokens,
    stop: parameters.stop,
    // Not OpenAI's, but vLLM, Spark and other OpenAI-compatible servers take them by these names.
    top_k: parameters.topK,
    repetition_penalty: parameters.repetitionPenalty,
    seed: parameters.seed,
    tools: modelRequest.tools,
    tool_choice: modelRequest.toolChoice,
    user: modelRequest.user,
  });
}

/** Whether the upstream still holds an earlier audio answer (a reference without an expiry is the caller's word). */
function isHeld(audio: AudioReference): boolean {
  return audio.expiresAt === undefined || audio.expiresAt * 1000 > Date.now();
}

type UpstreamDelta = {
  content?: string | null;
  audio?: { id?: string | null; data?: string | null; transcript?: string | null; expires_at?: number | null } | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
  tool_calls?: Array<{
    index?: number;
    id?: string | null;
    function?: { name?: string | null; arguments?: string | null };
  }> | null;
};
type UpstreamChunk = {
  choices?: Array<{
    delta?: UpstreamDelta | null;
    finish_reason?: string | null;
    logprobs?: { content?: unknown[] | null } | null;
  }> | null;
  usage?: {
    prompt_tokens?: number;
    completion_tokens?: number;
    total_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number } | null;
  } | null;
  error?: { message?: string } | string;
};

type ChunkReader = ReturnType<typeof createChunkReader>;

/** Turns SSE `data:` payloads into ModelParts; upstream chunks are read loosely, not schema-checked, on the hot path. */
function createChunkReader() {
  const state = {
    /** Everything streamed back so far, for a usage estimate when the upstream reports none. */
    streamed: '',
    parts: [] as ModelPart[],
    toolCalls: [] as Array<{ id: string; name: string; arguments: string } | undefined>,
    done: false,
    error: undefined as ProviderError | undefined,
    finishReason: undefined as ReturnType<typeof toFinishReason> | undefined,
    parser: undefined as unknown as ReturnType<typeof createParser>,
  };
  /**
   * Deltas that arrived in the same network read are merged: the caller sees the same text
   * just as soon, in fewer events, so every layer after this one does less work per token.
   * Nothing ever waits for more text to merge.
   */
  const pushText = (type: 'text-delta' | 'reasoning-delta', text: string) => {
    state.streamed += text;
    const last = state.parts.at(-1);
    if (last?.type === type) last.text += text;
    else state.parts.push({ type, text });
  };
  /** Audio pieces go on as they come (a piece of base64 is not text to merge); the transcript counts as streamed. */
  const pushAudio = (audio: NonNullable<UpstreamDelta['audio']>) => {
    const part: Extract<ModelPart, { type: 'audio-delta' }> = { type: 'audio-delta' };
    if (audio.id) part.id = audio.id;
    if (audio.data) part.data = audio.data;
    if (audio.transcript) {
      part.transcript = audio.transcript;
      state.streamed += audio.transcript;
    }
    if (typeof audio.expires_at === 'number') part.expiresAt = audio.expires_at;
    if (Object.keys(part).length > 1) state.parts.push(part);
  };
  const onEvent = (event: EventSourceMessage) => {
    if (state.error || state.done) return;
    try {
      readEvent(event);
    } catch (error) {
      state.error = error as ProviderError;
    }
  };
  const readEvent = (event: EventSourceMessage) => {
    if (event.data === '[DONE]') {
      state.done = true;
      state.finishReason ??= 'stop';
      return;
    }
    let chunk: UpstreamChunk;
    try {
      chunk = JSON.parse(event.data) as UpstreamChunk;
    } catch (error) {
      throw new ProviderError(`Model provider sent a chunk that is not JSON: ${event.data.slice(0, 80)}`, {
        retryable: false,
        cause: error,
      });
    }
    if (chunk === null || typeof chunk !== 'object') {
      throw new ProviderError('Model provider sent a chunk that is not an object', { retryable: false });
    }
    if (chunk.error !== undefined) {
      const detail = typeof chunk.error === 'string' ? chunk.error : (chunk.error.message ?? 'unknown error');
      throw new ProviderError(`Model provider failed mid-stream: ${detail}`, { retryable: false });
    }
    const choice = chunk.choices?.[0];
    const delta = choice?.delta;
    if (delta) {
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (reasoning) pushText('reasoning-delta', reasoning);
      if (delta.content) pushText('text-delta', delta.content);
      if (delta.audio) pushAudio(delta.audio);
      // Tool calls come in fragments, by index: assembled here, handed on whole at the end.
      for (const fragment of delta.tool_calls ?? []) {
        const call = (state.toolCalls[fragment.index ?? 0] ??= { id: '', name: '', arguments: '' });
        if (fragment.id) call.id = fragment.id;
        if (fragment.function?.name) call.name += fragment.function.name;
        call.arguments += fragment.function?.arguments ?? '';
        state.streamed += (fragment.function?.name ?? '') + (fragment.function?.arguments ?? '');
      }
    }
    const logprobs = choice?.logprobs?.content;
    if (logprobs?.length) state.parts.push({ type: 'logprobs', content: logprobs });
    if (choice?.finish_reason) state.finishReason = toFinishReason(choice.finish_reason);
    if (chunk.usage) {
      const promptTokens = chunk.usage.prompt_tokens ?? 0;
      const completionTokens = chunk.usage.completion_tokens ?? 0;
      const cachedPromptTokens = chunk.usage.prompt_tokens_details?.cached_tokens;
      state.parts.push({
        type: 'usage',
        usage: {
          promptTokens,
          completionTokens,
          totalTokens: chunk.usage.total_tokens ?? promptTokens + completionTokens,
          ...(cachedPromptTokens ? { cachedPromptTokens } : {}),
        },
      });
    }
  };
  state.parser = createParser({ onEvent });
  return state;
}

async function readErrorDetail(response: UpstreamResponse): Promise<string> {
  let text = '';
  for (let bytes = await response.read(); bytes !== undefined; bytes = await response.read()) {
    text += bytes.toString('utf8');
    if (text.length > MAX_ERROR_BODY_BYTES) break;
  }
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    const message = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
    if (message) return message.slice(0, 300);
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim().slice(0, 300);
}
