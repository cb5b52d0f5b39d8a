import type { BotDefinition, OpenAITool } from '@astron-chat/shared';
import { AppError } from '../errors/app-error.ts';
import type { ModelParameters } from '../providers/chat-model.ts';
import type { ChatRequest } from './chat-request.ts';

/**
 * What of the caller's request a bot takes, decided before the run starts: the caller's sampling
 * parameters and `tools` within the bot's `callerLimits` (a cap on max tokens, a pinned
 * temperature, no caller tools), and the forwarded OpenAI fields only for chat bots. Whatever is
 * not honoured is refused with 400 naming the field, never dropped.
 */
export function applyCallerLimits(
  definition: BotDefinition,
  request: ChatRequest,
): { parameters: ModelParameters; tools: OpenAITool[] | undefined } {
  const forwarded = Object.keys(request.forwarded ?? {});
  const firstForwarded = forwarded[0];
  if (definition.kind !== 'chat' && firstForwarded !== undefined) {
    throw new AppError(
      'VALIDATION_ERROR',
      `${firstForwarded}: only chat bots forward this field to their model; this is a ${definition.kind} bot, whose several model calls it would not fit.`,
      { param: firstForwarded },
    );
  }
  if (definition.kind !== 'chat') {
    const audio = request.messages.findIndex((message) => message.role === 'assistant' && message.audio);
    if (audio !== -1) {
      throw new AppError(
        'VALIDATION_ERROR',
        `messages.${audio}.audio: only chat bots pass an earlier audio answer to their model; this is a ${definition.kind} bot. Send its transcript as content.`,
        { param: `messages.${audio}.audio` },
      );
    }
  }
  const limits = definition.callerLimits ?? {};
  const parameters = { ...request.parameters };
  const tools = request.tools?.length ? request.tools : undefined;

  if (limits.forbidTools && tools) {
    throw new AppError('VALIDATION_ERROR', 'tools: this bot does not take tools from its callers.', {
      param: 'tools',
    });
  }
  if (tools) checkToolNames(definition, tools);

  if (limits.temperature !== undefined) {
    if (parameters.temperature !== undefined && parameters.temperature !== limits.temperature) {
      throw new AppError(
        'VALIDATION_ERROR',
        `temperature: this bot pins the temperature to ${limits.temperature}; leave it out or send ${limits.temperature}.`,
        { param: 'temperature' },
      );
    }
    parameters.temperature = limits.temperature;
  }

  const cap = limits.maxTokens;
  if (cap !== undefined) {
    if (parameters.maxTokens !== undefined) parameters.maxTokens = Math.min(parameters.maxTokens, cap);
    if (parameters.maxCompletionTokens !== undefined) {
      parameters.maxCompletionTokens = Math.min(parameters.maxCompletionTokens, cap);
    }
    // A caller that asks for no limit still gets the bot's (its own default is within the cap).
    if (parameters.maxTokens === undefined && parameters.maxCompletionTokens === undefined) {
      const own = definition.kind === 'workflow' ? undefined : definition.parameters?.maxTokens;
      if (definition.kind !== 'workflow') parameters.maxTokens = own ?? cap;
    }
  }
  return { parameters, tools };
}

/** A caller's tool may not take the name of one the bot runs itself: whose would a call be? */
function checkToolNames(definition: BotDefinition, tools: OpenAITool[]): void {
  const own = new Set<string>();
  if (definition.kind === 'agent') for (const tool of definition.tools) own.add(tool.name);
  if (definition.kind === 'workflow') {
    for (const node of definition.nodes) if (node.type === 'agent') for (const tool of node.tools) own.add(tool.name);
  }
  const clash = tools.findIndex((tool) => own.has(tool.function.name));
  if (clash !== -1) {
    throw new AppError(
      'VALIDATION_ERROR',
      `tools.${clash}.function.name: "${tools[clash]?.function.name}" is a tool the bot runs itself; name yours differently.`,
      { param: `tools.${clash}.function.name` },
    );
  }
}
