import type { FinishReason } from '@astron-chat/shared';
import type { ChatModel, ModelParameters } from '../providers/chat-model.ts';
import type { BotInput, ExecutionPart } from './execution.ts';
import type { NodeContext } from './graph.ts';

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
      ...(input.trackUnreportedUsage ? { trackUnreportedUsage: input.trackUnreportedUsage } : {}),
      user: input.user,
      context: input.modelContext,
    },
    signal,
  );
}

/**
 * A bot's (or node's) own parameters under the caller's: the caller's win. A caller's
 * `max_completion_tokens` replaces the bot's `maxTokens`: upstreams refuse both at once.
 */
export function mergeParameters(own: ModelParameters | undefined, caller: ModelParameters): ModelParameters {
  const merged = Object.assign({}, own, caller);
  if (caller.maxCompletionTokens !== undefined && caller.maxTokens === undefined) delete merged.maxTokens;
  return merged;
}

export type ModelCallOutcome = {
  text: string;
  /** Empty unless `keepReasoning`. */
  reasoning: string;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  finishReason: FinishReason;
};

/**
 * One model call inside a node (`llm`, each round of an `agent`): usage always goes to the caller,
 * text and reasoning deltas only when the node streams; text (and reasoning, if asked) is kept for
 * the node's output, tool calls for the agent loop. Each delta is forwarded as the model gave it.
 */
export async function callModel(
  context: NodeContext,
  model: ChatModel,
  request: BotInput,
  options: { stream: boolean; keepReasoning: boolean },
): Promise<ModelCallOutcome> {
  const outcome: ModelCallOutcome = { text: '', reasoning: '', toolCalls: [], finishReason: 'stop' };
  // The node's own `retry` settings govern the call's retries (providers/resilient-model.ts).
  const modelContext = Object.assign({}, request.modelContext, { retry: context.node.retry });
  for await (const part of streamModel(model, Object.assign({}, request, { modelContext }), context.signal)) {
    switch (part.type) {
      case 'text-delta':
        outcome.text += part.text;
        if (options.stream) context.emit(part);
        break;
      case 'reasoning-delta':
        if (options.keepReasoning) outcome.reasoning += part.text;
        if (options.stream) context.emit(part);
        break;
      case 'usage':
        context.emit(part);
        break;
      case 'tool-call':
        outcome.toolCalls.push({ id: part.id, name: part.name, arguments: part.arguments });
        break;
      case 'finish':
        outcome.finishReason = part.finishReason;
        break;
      // Nodes take no forwarded fields, so no audio was asked for.
      case 'logprobs':
      case 'audio-delta':
      case 'step-start':
      case 'step-end':
        break;
    }
  }
  return outcome;
}
