import type {
  BotDefinition,
  ChatEventBody,
  FinishReason,
  OpenAIForwardedFields,
  OpenAITool,
  Usage,
  OpenAIToolChoice,
  WorkflowNode,
} from '@astron-chat/shared';
import { createMemoryTtlCache } from '../cache/memory-ttl-cache.ts';
import type { NodeRunRecord } from '../store/node-run.repository.ts';
import { compileGraph, runGraph, type CompiledGraph } from './engine.ts';
import type { HttpCaller } from './http-call.ts';
import { createNodeRunner } from './nodes.ts';
import type { ChatModel, ModelMessage, ModelParameters } from '../providers/chat-model.ts';
import type { ModelRegistry } from '../providers/model-registry.ts';

/** What a bot is run with: the conversation so far and the caller's parameters. */
export type BotInput = {
  /** History and the question (last); the bot adds its own system prompt. */
  messages: ModelMessage[];
  parameters: ModelParameters;
  /** Workflow inputs: the request's extra `parameters` fields. */
  inputs: Record<string, unknown>;
  tools?: OpenAITool[] | undefined;
  toolChoice?: OpenAIToolChoice | undefined;
  /** OpenAI fields a chat bot forwards to its upstream (the core refuses them for other bots). */
  forwarded?: OpenAIForwardedFields | undefined;
  /** Told the usage of a model call that stopped before its provider reported any. */
  onUnreportedUsage?: ((usage: Usage) => void) | undefined;
  user: string;
  /** Told about every workflow node run as it settles (the core stores them with the run). */
  onNodeRun?: ((nodeRun: NodeRunRecord) => void) | undefined;
  /** Runs another bot of the same app (agents' `bot` tools). */
  runBot?: ((botId: string, question: string, signal: AbortSignal) => AsyncIterable<ExecutionPart>) | undefined;
  /** How deep in bots-calling-bots this run is; 0 for the caller's own. */
  depth?: number | undefined;
};

/**
 * What executing a bot streams. `usage` parts are per model call and add up; `finish` comes once,
 * last. Everything else is forwarded to the caller as it happens.
 */
export type ExecutionPart =
  | Extract<
      ChatEventBody,
      { type: 'text-delta' | 'reasoning-delta' | 'tool-call' | 'step-start' | 'step-end' | 'usage' | 'logprobs' }
    >
  | { type: 'finish'; finishReason: FinishReason };

export type BotExecution = {
  /** Shown to callers as `model`. */
  modelName: string;
  run(input: BotInput, signal: AbortSignal): AsyncIterable<ExecutionPart>;
};

export type ExecutorDependencies = {
  models: ModelRegistry;
  /** Outbound HTTP for `http` nodes and tools; without it they fail with a clear message. */
  http?: HttpCaller | undefined;
  /** Test seam: scales retry delays. Default 1. */
  retryDelayScale?: number | undefined;
};

/** Compiles a bot definition into something that runs; every kind goes through here. */
export function createBotExecution(definition: BotDefinition, dependencies: ExecutorDependencies): BotExecution {
  switch (definition.kind) {
    case 'chat': {
      const model = dependencies.models.resolve(definition.model);
      return {
        modelName: model.modelName,
        run: (input, signal) =>
          streamModel(
            model,
            {
              ...input,
              messages: definition.systemPrompt
                ? [{ role: 'system', content: definition.systemPrompt }, ...input.messages]
                : input.messages,
              parameters: mergeParameters(definition.parameters, input.parameters),
            },
            signal,
          ),
      };
    }
    case 'workflow':
      return createGraphExecution(compileGraph(definition.nodes, definition.edges), 'workflow', dependencies);
    case 'agent': {
      const nodes: WorkflowNode[] = [
        { id: 'start', type: 'start', inputs: [] },
        {
          id: 'agent',
          type: 'agent',
          model: definition.model,
          ...(definition.systemPrompt === undefined ? {} : { systemPrompt: definition.systemPrompt }),
          tools: definition.tools,
          maxLoopCount: definition.max_loop_count,
          ...(definition.parameters === undefined ? {} : { parameters: definition.parameters }),
          stream: true,
          withHistory: true,
          // The agent streams; it must not be cut short by the default node timeout.
          timeoutMs: 1_800_000,
        },
        { id: 'end', type: 'end', template: '' },
      ];
      const edges = [
        { source: 'start', target: 'agent' },
        { source: 'agent', target: 'end' },
      ];
      return createGraphExecution(compileGraph(nodes, edges), 'agent', dependencies);
    }
  }
}

/** A compiled graph with its models resolved, ready to run any number of times. */
function createGraphExecution(graph: CompiledGraph, kind: string, dependencies: ExecutorDependencies): BotExecution {
  const models = new Map<string, ChatModel>();
  for (const node of graph.nodes.values()) {
    if (node.type === 'llm' || node.type === 'agent') models.set(node.id, dependencies.models.resolve(node.model));
  }
  const names = [...new Set([...models.values()].map((model) => model.modelName))];
  const runNode = createNodeRunner({ models, http: dependencies.http });
  return {
    modelName:
      names.length === 1 && kind === 'agent' ? (names[0] ?? kind) : `${kind} (${names.join(', ') || 'no model'})`,
    run: (input, signal) =>
      runGraph(graph, {
        input,
        signal,
        runNode,
        ...(dependencies.retryDelayScale === undefined ? {} : { retryDelayScale: dependencies.retryDelayScale }),
      }),
  };
}

/**
 * Compiled bots by `app:bot:version` (versions are immutable, so entries never go stale), bounded
 * so a busy server keeps the hot ones (SPEC §9 `engine:{bot_id}:{version}`, 3600 s).
 */
export function createExecutionCache(
  dependencies: ExecutorDependencies,
  options: { maxEntries: number } = { maxEntries: 500 },
) {
  const entries = createMemoryTtlCache<BotExecution>({ maxEntries: options.maxEntries, ttlMs: 3_600_000 });
  return {
    get(bot: { appId: string; botId: string; version: number; definition: BotDefinition }): BotExecution {
      const key = `engine:${bot.appId}:${bot.botId}:${bot.version}`;
      let execution = entries.get(key);
      if (!execution) {
        execution = createBotExecution(bot.definition, dependencies);
        entries.set(key, execution);
      }
      return execution;
    },
    get size() {
      return entries.size;
    },
  };
}
export type ExecutionCache = ReturnType<typeof createExecutionCache>;

/**
 * One model call. Its parts are execution parts as they are, so the model's own iterator is
 * returned, not wrapped in a generator that would re-yield every delta: each layer between the
 * upstream socket and the caller costs promises per event (docs/decisions/2026-11-25-fewer-layers-per-event.md).
 */
export function streamModel(model: ChatModel, input: BotInput, signal: AbortSignal): AsyncIterable<ExecutionPart> {
  return model.stream(
    {
      messages: input.messages,
      parameters: input.parameters,
      ...(input.tools ? { tools: input.tools } : {}),
      ...(input.toolChoice ? { toolChoice: input.toolChoice } : {}),
      ...(input.forwarded ? { forwarded: input.forwarded } : {}),
      ...(input.onUnreportedUsage ? { onUnreportedUsage: input.onUnreportedUsage } : {}),
      user: input.user,
    },
    signal,
  );
}

/**
 * A bot's (or node's) own parameters under the caller's: the caller's win. A caller's
 * `max_completion_tokens` replaces the bot's `maxTokens`: upstreams refuse both at once.
 */
export function mergeParameters(own: ModelParameters | undefined, caller: ModelParameters): ModelParameters {
  const merged = { ...own, ...caller };
  if (caller.maxCompletionTokens !== undefined && caller.maxTokens === undefined) delete merged.maxTokens;
  return merged;
}
