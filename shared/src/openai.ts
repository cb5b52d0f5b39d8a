import { z } from 'zod';

// Content parts as the Chat Completions API takes them. Non-text parts reach the upstream as they
// are; history keeps them (URLs and file ids by reference, inline data bounded per part).
export const textPartSchema = z.strictObject({ type: z.literal('text'), text: z.string() });
export const imageUrlPartSchema = z.strictObject({
  type: z.literal('image_url'),
  image_url: z.strictObject({
    /** An http(s) URL or a `data:image/…;base64,` URL. */
    url: z
      .string()
      .min(1)
      .regex(/^(https?:|data:image\/)/i, 'must be an http(s) URL or a data:image/ URL'),
    detail: z.enum(['auto', 'low', 'high']).optional(),
  }),
});
export const inputAudioPartSchema = z.strictObject({
  type: z.literal('input_audio'),
  /** Base64-encoded audio. */
  input_audio: z.strictObject({ data: z.string().min(1), format: z.enum(['wav', 'mp3']) }),
});
export const filePartSchema = z.strictObject({
  type: z.literal('file'),
  file: z
    .strictObject({
      /** Base64 data URL of the file, inline. */
      file_data: z.string().min(1).optional(),
      /** A file the upstream already holds. */
      file_id: z.string().min(1).max(256).optional(),
      filename: z.string().min(1).max(256).optional(),
    })
    .refine((file) => file.file_data !== undefined || file.file_id !== undefined, 'needs file_data or file_id'),
});
export const contentPartSchema = z.discriminatedUnion('type', [
  textPartSchema,
  imageUrlPartSchema,
  inputAudioPartSchema,
  filePartSchema,
]);
export type ContentPart = z.infer<typeof contentPartSchema>;

/** User content: text, or parts that may carry images, audio and files. */
export const userContentSchema = z.union([z.string(), z.array(contentPartSchema).min(1)]);
const contentSchema = z.union([z.string(), z.array(textPartSchema).min(1)]);
const assistantContentSchema = z.union([
  z.string(),
  z.array(z.union([textPartSchema, z.strictObject({ type: z.literal('refusal'), refusal: z.string() })])).min(1),
]);

const toolCallSchema = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

export const openaiMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: contentSchema, name: z.string().optional() }),
  z.object({ role: z.literal('developer'), content: contentSchema, name: z.string().optional() }),
  z.object({ role: z.literal('user'), content: userContentSchema, name: z.string().optional() }),
  z.object({
    role: z.literal('assistant'),
    content: assistantContentSchema.nullable().optional(),
    name: z.string().optional(),
    refusal: z.string().nullable().optional(),
    tool_calls: z.array(toolCallSchema).optional(),
    /** An earlier audio answer, by the id the upstream gave it (it holds the audio until `expires_at`). */
    audio: z
      .strictObject({ id: z.string().min(1).max(256) })
      .nullable()
      .optional(),
  }),
  z.object({ role: z.literal('tool'), content: contentSchema, tool_call_id: z.string() }),
]);
export type OpenAIMessage = z.infer<typeof openaiMessageSchema>;

export const openaiToolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().min(1).max(64),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});
export type OpenAITool = z.infer<typeof openaiToolSchema>;

export const openaiToolChoiceSchema = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
]);
export type OpenAIToolChoice = z.infer<typeof openaiToolChoiceSchema>;

/** A field this server refuses (400 naming it) rather than accept and drop. */
export const refusedField = (message: string) =>
  z
    .unknown()
    .superRefine((value, context) => {
      if (value !== undefined && value !== null) context.addIssue({ code: 'custom', message });
    })
    .optional();

const jsonSchemaFormatSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, 'must hold only letters, digits, _ and -'),
  description: z.string().optional(),
  schema: z.record(z.string(), z.unknown()).optional(),
  strict: z.boolean().nullable().optional(),
});

/**
 * Fields a chat bot forwards to its OpenAI-compatible upstream exactly as the caller sent them.
 * Workflow and agent bots refuse them (400 naming the field): which of their model calls would
 * they apply to?
 */
export const openaiForwardedFieldsSchema = z.strictObject({
  response_format: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('text') }),
      z.strictObject({ type: z.literal('json_object') }),
      z.strictObject({ type: z.literal('json_schema'), json_schema: jsonSchemaFormatSchema }),
    ])
    .optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  logit_bias: z
    .record(z.string().regex(/^\d+$/, 'must be a token id'), z.number().min(-100).max(100))
    .nullable()
    .optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  parallel_tool_calls: z.boolean().optional(),
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable().optional(),
  verbosity: z.enum(['low', 'medium', 'high']).nullable().optional(),
  service_tier: z.enum(['auto', 'default', 'flex', 'scale', 'priority']).nullable().optional(),
  metadata: z
    .record(z.string().max(64), z.string().max(512))
    .refine((metadata) => Object.keys(metadata).length <= 16, 'at most 16 keys')
    .nullable()
    .optional(),
  store: z.boolean().nullable().optional(),
  prediction: z
    .strictObject({ type: z.literal('content'), content: z.union([z.string(), z.array(textPartSchema).min(1)]) })
    .nullable()
    .optional(),
  prompt_cache_key: z.string().max(1024).optional(),
  safety_identifier: z.string().max(256).optional(),
  web_search_options: z.record(z.string(), z.unknown()).optional(),
  /** `["text", "audio"]` asks an audio model to speak its answer; `audio` then says how. */
  modalities: z
    .array(z.enum(['text', 'audio']))
    .nullable()
    .optional(),
  audio: z
    .strictObject({
      format: z.enum(['wav', 'aac', 'mp3', 'flac', 'opus', 'pcm16']),
      voice: z.union([z.string().min(1).max(64), z.strictObject({ id: z.string().min(1).max(256) })]),
    })
    .nullable()
    .optional(),
});
export type OpenAIForwardedFields = z.infer<typeof openaiForwardedFieldsSchema>;
export const OPENAI_FORWARDED_FIELDS = Object.keys(openaiForwardedFieldsSchema.shape) as Array<
  keyof OpenAIForwardedFields
>;

/**
 * `POST /v1/chat/completions` body: every field of the Chat Completions API is either honoured
 * (sampling, tools and the forwarded fields) or refused with 400 naming it; unknown fields are
 * refused too, never dropped.
 */
export const openaiChatRequestSchema = z.strictObject({
  ...openaiForwardedFieldsSchema.shape,
  model: z.string().min(1).max(64),
  messages: z.array(openaiMessageSchema).min(1, 'must contain at least one message'),
  stream: z.boolean().nullable().optional(),
  stream_options: z
    .strictObject({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() })
    .nullable()
    .optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  max_completion_tokens: z.number().int().positive().nullable().optional(),
  stop: z
    .union([z.string(), z.array(z.string()).max(4)])
    .nullable()
    .optional(),
  seed: z.number().int().nullable().optional(),
  user: z.string().max(256).optional(),
  tools: z.array(openaiToolSchema).max(128).optional(),
  tool_choice: openaiToolChoiceSchema.optional(),
  n: z
    .number()
    .int()
    .refine((n) => n === 1, 'only n = 1 is supported: one answer per request')
    .nullable()
    .optional(),
  functions: refusedField('functions is deprecated: use tools'),
  function_call: refusedField('function_call is deprecated: use tool_choice'),
});
export type OpenAIChatRequest = z.infer<typeof openaiChatRequestSchema>;

export type OpenAIUsage = {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
};

/** An audio answer as OpenAI returns it (`message.audio`); streamed, it comes in pieces (`delta.audio`). */
export type OpenAIAudio = {
  id: string;
  /** Base64 audio in the requested format. */
  data: string;
  /** Unix seconds: until then the upstream keeps it for follow-up turns (`audio: {id}`). */
  expires_at: number;
  transcript: string;
};

/** As OpenAI sends them: the upstream's `logprobs.content` entries, relayed as they are. */
export type OpenAILogprobs = { content: unknown[]; refusal: null };

export type OpenAIToolCallDelta = {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
};

export type OpenAIChunk = {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: null;
  choices: Array<{
    index: 0;
    delta: {
      role?: 'assistant';
      content?: string | null;
      reasoning_content?: string;
      tool_calls?: OpenAIToolCallDelta[];
      /** A piece of an audio answer: `data` and `transcript` are to be appended, `id` and `expires_at` set. */
      audio?: Partial<OpenAIAudio>;
    };
    logprobs: OpenAILogprobs | null;
    finish_reason: string | null;
  }>;
  usage?: OpenAIUsage | null;
};

export type OpenAICompletion = {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: null;
  choices: Array<{
    index: 0;
    message: {
      role: 'assistant';
      content: string | null;
      reasoning_content?: string;
      refusal: null;
      tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
      audio?: OpenAIAudio;
    };
    logprobs: OpenAILogprobs | null;
    finish_reason: string;
  }>;
  usage: OpenAIUsage;
};

export type OpenAIErrorBody = {
  error: { message: string; type: string; param: string | null; code: string | null };
};

/** Upstream chunks are read loosely: providers add fields freely. */
export const upstreamChunkSchema = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        delta: z
          .looseObject({
            content: z.string().nullish(),
            reasoning_content: z.string().nullish(),
            reasoning: z.string().nullish(),
            tool_calls: z
              .array(
                z.looseObject({
                  index: z.number().int().nonnegative(),
                  id: z.string().nullish(),
                  function: z.looseObject({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
                }),
              )
              .nullish(),
          })
          .nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: z
    .looseObject({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number().optional() })
    .nullish(),
  error: z.unknown().optional(),
});
export type UpstreamChunk = z.infer<typeof upstreamChunkSchema>;
