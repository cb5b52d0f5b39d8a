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

/** How much stored conversation a bot is given; the oldest turns go first. */
export const historyBudgetSchema = z.strictObject({
  /** User/assistant exchanges kept. Default 20. */
  maxTurns: z.number().int().min(0).max(500).optional(),
  /** Rough token budget of the kept history (4 characters a token). Default 8000. */
  maxTokens: z.number().int().min(0).max(1_000_000).optional(),
});
export type HistoryBudget = z.infer<typeof historyBudgetSchema>;

/** A `chat` bot: one model with a system prompt and default parameters. */
export const chatBotDefinitionSchema = z.strictObject({
  kind: z.literal('chat'),
  model: modelReferenceSchema,
  systemPrompt: z.string().max(100_000).optional(),
  parameters: modelParametersSchema.optional(),
  history: historyBudgetSchema.optional(),
});

export const botDefinitionSchema = z.discriminatedUnion('kind', [chatBotDefinitionSchema]);
export type BotDefinition = z.infer<typeof botDefinitionSchema>;
