import type { BotDefinition, ChatEventBody, FinishReason, OpenAITool, OpenAIToolChoice } from '@astron-chat/shared';
import { createId } from '../lib/ids.ts';
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
  user: string;
};

/**
 * What executing a bot streams. `usage` parts are per model call and add up; `finish` comes once,
 * last. Everything else is forwarded to the caller as it happens.
 */
export type ExecutionPart =
  | Extract<
      ChatEventBody,
      { type: 'text-delta' | 'reasoning-delta' | 'tool-call' | 'step-start' | 'step-end' | 'usage' }
    >
  | { type: 'finish'; finishReason: FinishReason };

export type BotExecution = {
  /** Shown to callers as `model`. */
  modelName: string;
  run(input: BotInput, signal: AbortSignal): AsyncIterable<ExecutionPart>;
};

export type ExecutorDependencies = { models: ModelRegistry };

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
              parameters: { ...definition.parameters, ...input.parameters },
            },
            signal,
          ),
      };
    }
  }
}

/** One model call: deltas pass through, tool-call fragments are assembled into whole calls. */
export async function* streamModel(
  model: ChatModel,
  input: BotInput,
  signal: AbortSignal,
): AsyncGenerator<ExecutionPart> {
  const toolCalls: Array<{ id: string; name: string; arguments: string }> = [];
  let finishReason: FinishReason = 'stop';
  const request = {
    messages: input.messages,
    parameters: input.parameters,
    ...(input.tools ? { tools: input.tools } : {}),
    ...(input.toolChoice ? { toolChoice: input.toolChoice } : {}),
    user: input.user,
  };
  for await (const part of model.stream(request, signal)) {
    switch (part.type) {
      case 'text-delta':
      case 'reasoning-delta':
      case 'usage':
        yield part;
        break;
      case 'tool-call-delta': {
        const call = (toolCalls[part.index] ??= { id: '', name: '', arguments: '' });
        if (part.id) call.id = part.id;
        if (part.name) call.name += part.name;
        call.arguments += part.argumentsDelta;
        break;
      }
      case 'finish':
        finishReason = part.finishReason;
        break;
    }
  }
  for (const [index, call] of toolCalls.entries()) {
    if (!call) continue;
    yield {
      type: 'tool-call',
      index,
      id: call.id || createId('call'),
      kind: 'tool',
      name: call.name,
      arguments: call.arguments,
    };
  }
  yield { type: 'finish', finishReason };
}
