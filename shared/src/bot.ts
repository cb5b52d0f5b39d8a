import { z } from 'zod';

/** Which configured provider serves a model: `demo` (built-in) or a provider id from server config. */
export const modelReferenceSchema = z.strictObject({
  provider: z.string().min(1).max(64),
  /** Upstream model id; the provider's default when omitted. */
  name: z.string().min(1).max(128).optional(),
});

export const modelParametersSchema = z.strictObject({
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().min(0).max(1).optional(),
  maxTokens: z.number().int().positive().optional(),
});

/** A `chat` bot: one model with a system prompt and default parameters. */
export const chatBotDefinitionSchema = z.strictObject({
  kind: z.literal('chat'),
  model: modelReferenceSchema,
  systemPrompt: z.string().max(100_000).optional(),
  parameters: modelParametersSchema.optional(),
});

export const botDefinitionSchema = z.discriminatedUnion('kind', [chatBotDefinitionSchema]);
export type BotDefinition = z.infer<typeof botDefinitionSchema>;
