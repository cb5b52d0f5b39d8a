import { z } from 'zod';

/** One provider and model: `demo` (built-in), `upstream` (OPENAI_BASE_URL) or a provider an operator added. */
const modelCandidateSchema = z.strictObject({
  provider: z.string().min(1).max(64),
  /** Upstream model id; the provider's default when omitted. */
  name: z.string().min(1).max(128).optional(),
});

/**
 * Which provider serves a model, and where to go when it fails before its first token (after its
 * retries): `fallbacks`, tried in order.
 */
export const modelReferenceSchema = modelCandidateSchema.extend({
  fallbacks: z.array(modelCandidateSchema).max(5).optional(),
});
export type ModelReferenceDefinition = z.infer<typeof modelReferenceSchema>;

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

/**
 * What the caller's request may change. Without limits a caller's sampling parameters
 * (temperature, max_tokens, top_p, stop, seed) and `tools` reach every model call of the bot,
 * over the bot's own `parameters`.
 */
export const callerLimitsSchema = z.strictObject({
  /** Most tokens a caller may ask for (max_tokens or max_completion_tokens): more is lowered to this, none gets this. */
  maxTokens: z.number().int().positive().optional(),
  /** Pins the temperature: every call uses it, and a caller asking for another one is refused (400, param `temperature`). */
  temperature: z.number().min(0).max(2).optional(),
  /** Refuse requests that bring their own `tools` (400, param `tools`). Default false. */
  forbidTools: z.boolean().optional(),
});
export type CallerLimits = z.infer<typeof callerLimitsSchema>;

/** A `chat` bot: one model with a system prompt and default parameters. */
export const chatBotDefinitionSchema = z.strictObject({
  kind: z.literal('chat'),
  model: modelReferenceSchema,
  systemPrompt: z.string().max(100_000).optional(),
  parameters: modelParametersSchema.optional(),
  history: historyBudgetSchema.optional(),
  callerLimits: callerLimitsSchema.optional(),
});

// ---------------------------------------------------------------------------------------------
// Workflows and agents (SPEC §8). Ids are short and safe to use inside `{{node_id.field}}`.

const idSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'must start with a letter or _ and hold only letters, digits, _ and -');

/**
 * Retry of a failing node. The error class picks the defaults (network timeout 3 retries,
 * exponential; auth 1, immediate; business 0; resource exhaustion 2, fixed); these override them
 * for every class but business errors, which are never retried.
 */
export const nodeRetrySchema = z.strictObject({
  maxRetries: z.number().int().min(0).max(10).optional(),
  backoff: z.enum(['exponential', 'fixed', 'immediate']).optional(),
  /** First delay, ms (exponential doubles it each time). Default 500. */
  delayMs: z.number().int().min(0).max(60_000).optional(),
});

/** What happens when a node fails after its retries: stop the run, go on with a default output, or follow the node's `fail` edges. */
/** Largest HTTP response an http node or tool reads, bytes (at most 10 MiB). Default 1 MiB. */
const maxResponseBytesSchema = z
  .number()
  .int()
  .min(1)
  .max(10 * 1024 * 1024)
  .optional();

export const nodeErrorStrategySchema = z.discriminatedUnion('strategy', [
  z.strictObject({ strategy: z.literal('abort') }),
  z.strictObject({ strategy: z.literal('default'), output: z.record(z.string(), z.unknown()) }),
  z.strictObject({ strategy: z.literal('fail-branch') }),
]);
export type NodeErrorStrategy = z.infer<typeof nodeErrorStrategySchema>;

const nodeBase = {
  id: idSchema,
  title: z.string().max(128).optional(),
  /** Per attempt, ms. Default 60000 (http: 10000). */
  timeoutMs: z.number().int().min(1).max(1_800_000).optional(),
  retry: nodeRetrySchema.optional(),
  onError: nodeErrorStrategySchema.optional(),
};

/** A JSON-schema object describing tool arguments, as OpenAI takes it. */
const jsonSchemaObject = z.record(z.string(), z.unknown());

const httpRequestFields = {
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
  /** Templated; must be inside the server's HTTP_TOOL_ALLOWLIST. */
  url: z.string().min(1).max(2048),
  headers: z.record(z.string(), z.string().max(4096)).optional(),
  /** Templated request body (sent as is; JSON when it parses as JSON). */
  body: z.string().max(100_000).optional(),
  /** Largest response read, bytes. Default 1 MiB. */
  maxResponseBytes: maxResponseBytesSchema,
};

/** A tool an agent may call: an allow-listed HTTP endpoint, or another bot of the same app. */
/** What the model calls a tool by, and what it reads about it. */
const toolNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/);
const toolDescriptionSchema = z.string().max(1024).default('');

export const agentToolSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('http'),
    name: toolNameSchema,
    description: toolDescriptionSchema,
    /** JSON schema of the arguments the model sends. GET sends them as the query, others as a JSON body. */
    parameters: jsonSchemaObject.optional(),
    method: z.enum(['GET', 'POST']).default('POST'),
    /** An absolute http(s) URL inside HTTP_TOOL_ALLOWLIST, or a path (`/tools/calculator`) on this server itself. */
    url: z
      .string()
      .max(2048)
      .regex(/^(https?:\/\/|\/)/, 'must be an http(s) URL or a path starting with /'),
    headers: z.record(z.string(), z.string().max(4096)).optional(),
    timeoutMs: z.number().int().min(1).max(300_000).optional(),
    maxResponseBytes: maxResponseBytesSchema,
  }),
  z.strictObject({
    type: z.literal('bot'),
    name: toolNameSchema,
    description: toolDescriptionSchema,
    /** Another bot (chat, workflow or agent) of the same app; it gets the `query` argument as its question. */
    botId: z.string().min(1).max(64),
  }),
]);
export type AgentTool = z.infer<typeof agentToolSchema>;

const conditionOperatorSchema = z.enum([
  'equals',
  'not-equals',
  'contains',
  'not-contains',
  'starts-with',
  'ends-with',
  'empty',
  'not-empty',
  'greater-than',
  'less-than',
]);
export type ConditionOperator = z.infer<typeof conditionOperatorSchema>;

export const workflowNodeSchema = z.discriminatedUnion('type', [
  z.strictObject({
    ...nodeBase,
    type: z.literal('start'),
    /** Inputs read from the request's `parameters`; `query` (the question) is always there. */
    inputs: z
      .array(
        z.strictObject({
          name: idSchema,
          type: z.enum(['string', 'number', 'boolean', 'file']).default('string'),
          required: z.boolean().default(false),
        }),
      )
      .max(64)
      .default([]),
  }),
  z.strictObject({
    ...nodeBase,
    type: z.literal('llm'),
    model: modelReferenceSchema,
    systemPrompt: z.string().max(100_000).optional(),
    /** Templated user message. */
    prompt: z.string().min(1).max(100_000),
    parameters: modelParametersSchema.optional(),
    /** Forward this node's text to the caller as it arrives. Default false. */
    stream: z.boolean().default(false),
    /** Send the conversation's earlier turns before the prompt. Default false. */
    withHistory: z.boolean().default(false),
  }),
  z.strictObject({ ...nodeBase, type: z.literal('template'), template: z.string().max(100_000) }),
  z.strictObject({
    ...nodeBase,
    type: z.literal('condition'),
    /** Tried in order; the first whose conditions all hold is taken, else the `else` edges. */
    branches: z
      .array(
        z.strictObject({
          id: idSchema,
          conditions: z
            .array(
              z.strictObject({
                /** Templated, e.g. `{{start.query}}`. */
                left: z.string().max(10_000),
                operator: conditionOperatorSchema,
                right: z.string().max(10_000).default(''),
              }),
            )
            .min(1)
            .max(32),
        }),
      )
      .min(1)
      .max(32),
  }),
  z.strictObject({ ...nodeBase, type: z.literal('http'), ...httpRequestFields }),
  z.strictObject({
    ...nodeBase,
    type: z.literal('agent'),
    model: modelReferenceSchema,
    systemPrompt: z.string().max(100_000).optional(),
    /** Templated user message; default `{{start.query}}`. */
    prompt: z.string().max(100_000).optional(),
    tools: z.array(agentToolSchema).max(32).default([]),
    /** Model calls at most; the agent stops cleanly when reached. Default 5. */
    maxLoopCount: z.number().int().min(1).max(50).default(5),
    parameters: modelParametersSchema.optional(),
    stream: z.boolean().default(false),
    withHistory: z.boolean().default(false),
  }),
  z.strictObject({
    ...nodeBase,
    type: z.literal('end'),
    /** Templated answer, streamed to the caller. Empty when the answer was streamed by earlier nodes. */
    template: z.string().max(100_000).default(''),
  }),
]);
export type WorkflowNode = z.infer<typeof workflowNodeSchema>;
export type WorkflowNodeType = WorkflowNode['type'];
export const WORKFLOW_NODE_TYPES = ['start', 'llm', 'template', 'condition', 'http', 'agent', 'end'] as const;

export const workflowEdgeSchema = z.strictObject({
  source: idSchema,
  target: idSchema,
  /** Which outcome of the source this edge follows: a condition's branch id or `else`, or `fail` (fail-branch). */
  sourceHandle: z.string().max(64).optional(),
});
export type WorkflowEdge = z.infer<typeof workflowEdgeSchema>;

export const workflowBotDefinitionSchema = z.strictObject({
  kind: z.literal('workflow'),
  nodes: z.array(workflowNodeSchema).min(2).max(200),
  edges: z.array(workflowEdgeSchema).max(1000),
  history: historyBudgetSchema.optional(),
  callerLimits: callerLimitsSchema.optional(),
});

export const agentBotDefinitionSchema = z.strictObject({
  kind: z.literal('agent'),
  model: modelReferenceSchema,
  systemPrompt: z.string().max(100_000).optional(),
  tools: z.array(agentToolSchema).max(32),
  /** Model calls at most; past it the agent ends with finish reason `length` and says why. Default 5. */
  max_loop_count: z.number().int().min(1).max(50).default(5),
  parameters: modelParametersSchema.optional(),
  history: historyBudgetSchema.optional(),
  callerLimits: callerLimitsSchema.optional(),
});

export const botDefinitionSchema = z.discriminatedUnion('kind', [
  chatBotDefinitionSchema,
  workflowBotDefinitionSchema,
  agentBotDefinitionSchema,
]);
export type BotDefinition = z.infer<typeof botDefinitionSchema>;
/** A definition as written (defaults not applied yet). */
export type BotDefinitionInput = z.input<typeof botDefinitionSchema>;
