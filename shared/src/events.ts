import { z } from 'zod';

export const usageSchema = z.object({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  totalTokens: z.number().int().nonnegative(),
  /** Prompt tokens the upstream served from its cache (`prompt_tokens_details.cached_tokens`), part of `promptTokens`. */
  cachedPromptTokens: z.number().int().nonnegative().optional(),
  /** Counted here with a tokenizer because the upstream reported none (or the run was cancelled first). */
  estimated: z.boolean().optional(),
});
export type Usage = z.infer<typeof usageSchema>;

export const finishReasonSchema = z.enum(['stop', 'length', 'tool_calls', 'content_filter', 'cancelled', 'interrupt']);
export type FinishReason = z.infer<typeof finishReasonSchema>;

export const toolCallKindSchema = z.enum(['tool', 'workflow', 'knowledge']);
export type ToolCallKind = z.infer<typeof toolCallKindSchema>;

const base = { seq: z.number().int().nonnegative() };

/** The one stream every transport frames (SPEC §2). Discriminated on `type`. */
export const chatEventSchema = z.discriminatedUnion('type', [
  z.object({
    ...base,
    type: z.literal('run-start'),
    runId: z.string(),
    chatId: z.string().nullable(),
    botId: z.string(),
    model: z.string(),
    created: z.number().int(),
  }),
  z.object({ ...base, type: z.literal('text-delta'), text: z.string() }),
  z.object({ ...base, type: z.literal('reasoning-delta'), text: z.string() }),
  z.object({
    ...base,
    type: z.literal('tool-call'),
    index: z.number().int().nonnegative(),
    id: z.string(),
    kind: toolCallKindSchema,
    name: z.string(),
    arguments: z.string(),
    result: z.string().optional(),
    reason: z.string().optional(),
    /** How long the tool took, when it ran here. */
    durationMs: z.number().int().nonnegative().optional(),
  }),
  /**
   * A workflow node's step: `step-start` then `step-end` for every node, retries included (one pair
   * per attempt). A node on a branch not taken sends the pair too, both `status: "skipped"`: every
   * `step-end` closes a step that a `step-start` opened.
   */
  z.object({
    ...base,
    type: z.enum(['step-start', 'step-end']),
    nodeId: z.string(),
    nodeType: z.string(),
    stepSeq: z.number().int().nonnegative(),
    progress: z.number().min(0).max(1),
    status: z.enum(['running', 'succeeded', 'failed', 'skipped']),
    /** 1 for the first try of a node, 2 for its first retry, … */
    attempt: z.number().int().positive().optional(),
    error: z.string().optional(),
  }),
  z.object({ ...base, type: z.literal('usage'), usage: usageSchema }),
  /** Token log probabilities of the text just streamed, as the upstream sent them (OpenAI `logprobs.content`). */
  z.object({ ...base, type: z.literal('logprobs'), content: z.array(z.unknown()) }),
  /**
   * A piece of an audio answer (OpenAI `modalities: ["audio"]`), as the upstream streamed it:
   * `data` (base64 audio) and `transcript` are to be appended; `id` names the answer and
   * `expiresAt` (Unix seconds) says until when the upstream keeps it for a follow-up turn.
   */
  z.object({
    ...base,
    type: z.literal('audio-delta'),
    id: z.string().optional(),
    data: z.string().optional(),
    transcript: z.string().optional(),
    expiresAt: z.number().optional(),
  }),
  z.object({ ...base, type: z.literal('finish'), finishReason: finishReasonSchema, usage: usageSchema }),
  z.object({
    ...base,
    type: z.literal('error'),
    code: z.number().int(),
    message: z.string(),
    retryable: z.boolean(),
    /** Seconds to wait before trying again, when the error knows (an upstream 429's `Retry-After`, overload). */
    retryAfterSeconds: z.number().nonnegative().optional(),
  }),
]);

export type ChatEvent = z.infer<typeof chatEventSchema>;
export type ChatEventType = ChatEvent['type'];
/** An event before the core numbers it. */
export type ChatEventBody = ChatEvent extends infer Event
  ? Event extends { seq: number }
    ? Omit<Event, 'seq'>
    : never
  : never;
