import type { BotDefinition, WorkflowNode } from '@astron-chat/shared';
import { createMemoryTtlCache } from '../cache/memory-ttl-cache.ts';
import type { ChatModel } from '../providers/chat-model.ts';
import type { ModelRegistry } from '../providers/model-registry.ts';
import { runGraph } from './engine.ts';
import type { BotExecution } from './execution.ts';
import { compileGraph, type CompiledGraph } from './graph.ts';
import type { HttpCaller } from './http-call.ts';
import { mergeParameters, streamModel } from './model-call.ts';
import { createNodeRunner } from './nodes.ts';

// The workflow's entry for the core: what running a bot takes and streams.
export type { BotExecution, BotInput, ExecutionPart, NodeRunReport } from './execution.ts';

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
            Object.assign({}, input, {
              messages: definition.systemPrompt
                ? [{ role: 'system' as const, content: definition.systemPrompt }, ...input.messages]
                : input.messages,
              parameters: mergeParameters(definition.parameters, input.parameters),
            }),
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
