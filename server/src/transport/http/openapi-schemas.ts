import {
  type AstronChunk,
  type AstronCompletion,
  type OpenAIChunk,
  type OpenAICompletion,
  type OpenAIErrorBody,
} from '@astron-chat/shared';
import { z } from 'zod';

/**
 * Zod schemas of the response bodies, for the OpenAPI document. The wire types in `@astron-chat/shared`
 * are what the framers build; `Same<>` below makes the typecheck fail when a schema and its type differ.
 */
const envelope = { code: z.number().int(), message: z.string() };
const usage = z.object({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
});
const astronToolCall = z.object({
  index: z.number().int(),
  id: z.string(),
  type: z.enum(['tool', 'workflow', 'knowledge']),
  reason: z.string(),
  function: z.object({ name: z.string(), arguments: z.string(), response: z.string() }),
});

export const astronChunkSchema = z
  .object({
    id: z.string(),
    created: z.number().int(),
    model: z.string(),
    object: z.literal('chat.completion.chunk'),
    choices: z.tuple([
      z.object({
        index: z.literal(0),
        delta: z.object({
          role: z.literal('assistant').exactOptional(),
          content: z.string().exactOptional(),
          reasoning_content: z.string().exactOptional(),
          tool_calls: z.array(astronToolCall).exactOptional(),
        }),
        finish_reason: z.string().nullable(),
      }),
    ]),
    workflow_step: z.object({ node: z.string(), seq: z.number().int(), progress: z.number() }).exactOptional(),
    usage: usage.exactOptional(),
    ...envelope,
  })
  .meta({ description: 'One `data:` frame of the Astron stream; the stream ends with `data: [DONE]`.' });

export const astronCompletionSchema = z.object({
  id: z.string(),
  created: z.number().int(),
  model: z.string(),
  object: z.literal('chat.completion'),
  choices: z.tuple([
    z.object({
      index: z.literal(0),
      message: z.object({
        role: z.literal('assistant'),
        content: z.string(),
        reasoning_content: z.string().exactOptional(),
        tool_calls: z.array(astronToolCall).exactOptional(),
      }),
      finish_reason: z.string().nullable(),
    }),
  ]),
  usage,
  ...envelope,
});

export const astronErrorSchema = z
  .object({ ...envelope, param: z.string().exactOptional(), request_id: z.string().exactOptional() })
  .meta({ description: 'An Astron error: `code` is a row of the error table, `message` says what was wrong.' });

const openaiUsage = usage.extend({
  prompt_tokens_details: z.object({ cached_tokens: z.number().int() }).exactOptional(),
});
const openaiLogprobs = z.object({ content: z.array(z.unknown()), refusal: z.null() }).nullable();

const openaiAudioFields = {
  id: z.string(),
  data: z.string().meta({ description: 'Base64 audio in the requested format.' }),
  expires_at: z
    .number()
    .meta({ description: 'Unix seconds: until then `audio: {id}` refers to it in a follow-up turn.' }),
  transcript: z.string(),
};
const openaiAudio = z
  .object(openaiAudioFields)
  .meta({ description: 'An audio answer (`modalities: ["audio"]`), as the upstream gave it.' });
const openaiAudioPiece = z
  .object({
    id: openaiAudioFields.id.exactOptional(),
    data: openaiAudioFields.data.exactOptional(),
    expires_at: openaiAudioFields.expires_at.exactOptional(),
    transcript: openaiAudioFields.transcript.exactOptional(),
  })
  .meta({ description: 'A piece of an audio answer: append `data` and `transcript`; `id` and `expires_at` are set.' });

const openaiToolCall = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

export const openaiChunkSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion.chunk'),
    created: z.number().int(),
    model: z.string(),
    system_fingerprint: z.null(),
    choices: z.array(
      z.object({
        index: z.literal(0),
        delta: z.object({
          role: z.literal('assistant').exactOptional(),
          content: z.string().nullable().exactOptional(),
          reasoning_content: z.string().exactOptional(),
          tool_calls: z
            .array(
              z.object({
                index: z.number().int(),
                id: z.string().exactOptional(),
                type: z.literal('function').exactOptional(),
                function: z
                  .object({ name: z.string().exactOptional(), arguments: z.string().exactOptional() })
                  .exactOptional(),
              }),
            )
            .exactOptional(),
          audio: openaiAudioPiece.exactOptional(),
        }),
        logprobs: openaiLogprobs,
        finish_reason: z.string().nullable(),
      }),
    ),
    usage: openaiUsage.nullable().exactOptional(),
  })
  .meta({ description: 'One `data:` frame of the OpenAI stream; the stream ends with `data: [DONE]`.' });

export const openaiCompletionSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  system_fingerprint: z.null(),
  choices: z.array(
    z.object({
      index: z.literal(0),
      message: z.object({
        role: z.literal('assistant'),
        content: z.string().nullable(),
        reasoning_content: z.string().exactOptional(),
        refusal: z.null(),
        tool_calls: z.array(openaiToolCall).exactOptional(),
        audio: openaiAudio.exactOptional(),
      }),
      logprobs: openaiLogprobs,
      finish_reason: z.string(),
    }),
  ),
  usage: openaiUsage,
});

export const openaiErrorSchema = z.object({
  error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string().nullable() }),
});

export const openaiModelSchema = z.object({
  id: z.string(),
  object: z.literal('model'),
  created: z.number().int(),
  owned_by: z.string(),
});
export const openaiModelsSchema = z.object({ object: z.literal('list'), data: z.array(openaiModelSchema) });

export const historySchema = z.object({
  chat_id: z.string(),
  messages: z.array(
    z.object({
      id: z.string(),
      role: z.enum(['user', 'assistant']),
      content: z.string(),
      reasoning_content: z.string().nullable(),
      tool_calls: z.array(z.unknown()).nullable(),
      status: z.enum(['complete', 'partial']).meta({ description: '`partial`: the run was cancelled or failed.' }),
      run_id: z.string(),
      created: z.number().int(),
    }),
  ),
  next_before: z.string().nullable().meta({ description: 'Pass as `before` for the previous page.' }),
  ...envelope,
});

export const usageReportSchema = z.object({
  app_id: z.string(),
  from: z.string(),
  to: z.string(),
  days: z.array(
    z.object({
      day: z.string(),
      bot_id: z.string(),
      api_key_id: z.string().nullable(),
      runs: z.number().int(),
      prompt_tokens: z.number().int(),
      completion_tokens: z.number().int(),
      total_tokens: z.number().int(),
    }),
  ),
  ...envelope,
});

const page = { next_before: z.string().nullable().meta({ description: 'Pass as `before` for the next page.' }) };

export const chatListSchema = z.object({
  uid: z.string(),
  chats: z.array(
    z.object({
      chat_id: z.string(),
      bot_id: z.string(),
      title: z.string(),
      created: z.number().int(),
      updated: z.number().int(),
    }),
  ),
  ...page,
  ...envelope,
});

export const runListSchema = z.object({
  runs: z.array(
    z.object({
      run_id: z.string(),
      bot_id: z.string(),
      bot_version: z.number().int(),
      chat_id: z.string().nullable(),
      uid: z.string(),
      transport: z.string(),
      status: z.string(),
      finish_reason: z.string().nullable(),
      error_code: z.number().int().nullable(),
      total_tokens: z.number().int(),
      time_to_first_token_ms: z.number().nullable(),
      duration_ms: z.number().nullable(),
      created: z.number().int(),
    }),
  ),
  ...page,
  ...envelope,
});

const camelUsage = z.object({
  promptTokens: z.number().int(),
  completionTokens: z.number().int(),
  totalTokens: z.number().int(),
});

export const runReadSchema = z.object({
  runId: z.string(),
  botId: z.string(),
  botVersion: z.number().int(),
  chatId: z.string().nullable(),
  status: z.string(),
  finishReason: z.string().nullable(),
  error: z.object({ code: z.number().int(), message: z.string() }).nullable(),
  usage: camelUsage,
  durationMs: z.number().nullable(),
  created: z.number().int(),
  nodes: z.array(
    z.looseObject({
      nodeId: z.string(),
      nodeType: z.string(),
      status: z.string(),
      attempts: z.number().int(),
      usage: camelUsage,
      output: z.unknown(),
    }),
  ),
  ...envelope,
});

export const calculatorResponseSchema = z.object({ expression: z.string(), result: z.number() });

const healthChecks = z.record(
  z.string(),
  z.looseObject({
    kind: z.string(),
    required: z.boolean(),
    status: z.enum(['up', 'down']),
    latencyMs: z.number(),
    error: z.string().exactOptional(),
  }),
);

export const healthSchema = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  checks: healthChecks,
  timestamp: z.string(),
  demoMode: z.boolean(),
});

export const livenessSchema = z.object({ status: z.literal('live'), timestamp: z.string() });

export const readinessSchema = z.object({
  status: z.enum(['ready', 'not_ready']),
  failing: z.array(z.string()).exactOptional(),
  message: z.string().exactOptional(),
  checks: healthChecks,
  timestamp: z.string(),
});

/** tRPC's SSE frames carry one `ChatEvent` in `data` (superjson: `{"json": …}`), with `id` = `runId:seq`. */

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Fails to compile when a schema drifts from the type the framers build. */
const drift: [
  Same<z.infer<typeof astronChunkSchema>, AstronChunk>,
  Same<z.infer<typeof astronCompletionSchema>, AstronCompletion>,
  Same<z.infer<typeof openaiChunkSchema>, OpenAIChunk>,
  Same<z.infer<typeof openaiCompletionSchema>, OpenAICompletion>,
  Same<z.infer<typeof openaiErrorSchema>, OpenAIErrorBody>,
] = [true, true, true, true, true];
void drift;
