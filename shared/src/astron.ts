import { z } from 'zod';
import { refusedField, textPartSchema, userContentSchema } from './openai.ts';

/** `content` is text, or (as on `/v1`) an array of parts: a user's may hold images, audio and files. */
export const astronMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('user'), content: userContentSchema }),
  z.object({ role: z.enum(['assistant', 'system']), content: z.union([z.string(), z.array(textPartSchema).min(1)]) }),
]);
export type AstronMessage = z.infer<typeof astronMessageSchema>;

/** System messages lead; the question (last message) is the user's. */
export function checkRoleOrder(roles: readonly string[]): { index: number; message: string } | undefined {
  if (roles.length === 0) return { index: 0, message: 'must contain at least one message' };
  const firstNonSystem = roles.findIndex((role) => role !== 'system');
  const lateSystem = roles.findIndex(
    (role, index) => role === 'system' && firstNonSystem !== -1 && index > firstNonSystem,
  );
  if (lateSystem !== -1) return { index: lateSystem, message: 'system messages must come before all other messages' };
  const last = roles.length - 1;
  if (roles[last] !== 'user')
    return { index: last, message: `the last message must have role "user", got "${roles[last]}"` };
  return undefined;
}

/** Sampling and workflow inputs; unknown keys pass through as workflow inputs. */
export const astronParametersSchema = z.looseObject({
  messages: z.array(astronMessageSchema).min(1, 'must contain at least one message'),
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: z.number().int().positive().optional(),
  top_k: z.number().int().positive().optional(),
  top_p: z.number().min(0).max(1).optional(),
  repetition_penalty: z.number().positive().optional(),
  /** At most 4, what OpenAI-style upstreams accept. */
  stop_sequences: z.array(z.string()).max(4).optional(),
  seed: z.number().int().optional(),
  // Not workflow inputs: refused by name, so a caller asking for speech is told where it is.
  modalities: refusedField(
    'audio answers are on POST /v1/chat/completions (OpenAI wire); Astron frames carry text only',
  ),
  audio: refusedField('audio answers are on POST /v1/chat/completions (OpenAI wire); Astron frames carry text only'),
});

export const astronMetaDataSchema = z.object({
  caller: z.string().max(128).optional(),
  caller_sid: z.string().max(128).optional(),
  timestamp: z.number().optional(),
});

/** `POST /agent/v1/chat/completions` body (SPEC §3). Unknown top-level fields are ignored. */
export const astronChatRequestSchema = z
  .object({
    bot_id: z.string().min(1).max(64),
    uid: z.string().max(64),
    stream: z.boolean().default(false),
    chat_id: z.string().min(1).max(128).optional(),
    parameters: astronParametersSchema,
    meta_data: astronMetaDataSchema.optional(),
  })
  .superRefine((request, context) => {
    const problem = checkRoleOrder(request.parameters.messages.map((message) => message.role));
    if (problem) {
      context.addIssue({
        code: 'custom',
        path: ['parameters', 'messages', problem.index],
        message: problem.message,
      });
    }
  });
export type AstronChatRequest = z.infer<typeof astronChatRequestSchema>;
export type AstronChatRequestInput = z.input<typeof astronChatRequestSchema>;

/**
 * One request's key, sent again with every retry and reconnect of it (as Stripe's and OpenAI's
 * `Idempotency-Key`): the server starts one run per key, app and user, and a retry attaches to it.
 * Kept as long as the run's log (600 s after it ends). A UUID or 128 random bits suit.
 */
export const idempotencyKeySchema = z
  .string()
  .min(8, 'must be at least 8 characters (a UUID suits)')
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/**
 * tRPC `chat.completions` input: the Astron body, `idempotencyKey` (`@astron-chat/client` makes one
 * per call) and `lastEventId`, which tRPC adds when it reconnects.
 */
export const chatCompletionsInputSchema = astronChatRequestSchema.and(
  z.object({ idempotencyKey: idempotencyKeySchema.optional(), lastEventId: z.string().nullish() }),
);

export type AstronToolCall = {
  index: number;
  id: string;
  type: 'tool' | 'workflow' | 'knowledge';
  reason: string;
  function: { name: string; arguments: string; response: string };
};

export type AstronUsage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };

export type AstronDelta = {
  role?: 'assistant';
  content?: string;
  reasoning_content?: string;
  tool_calls?: AstronToolCall[];
};

/** One `data:` frame of the Astron stream. */
export type AstronChunk = {
  id: string;
  created: number;
  model: string;
  object: 'chat.completion.chunk';
  choices: [{ index: 0; delta: AstronDelta; finish_reason: string | null }];
  workflow_step?: { node: string; seq: number; progress: number };
  usage?: AstronUsage;
  code: number;
  message: string;
};

/** The non-streaming Astron answer. */
export type AstronCompletion = {
  id: string;
  created: number;
  model: string;
  object: 'chat.completion';
  choices: [
    {
      index: 0;
      message: { role: 'assistant'; content: string; reasoning_content?: string; tool_calls?: AstronToolCall[] };
      finish_reason: string | null;
    },
  ];
  usage: AstronUsage;
  code: number;
  message: string;
};
