import type { ConditionOperator, WorkflowNode } from '@astron-chat/shared';
import { AppError } from '../errors/app-error.ts';
import type { ChatModel, ModelMessage } from '../providers/chat-model.ts';
import { runAgentLoop } from './agent-loop.ts';
import type { NodeContext, NodeResult, NodeRunner } from './graph.ts';
import { callModel, mergeParameters } from './model-call.ts';
import type { HttpCaller } from './http-call.ts';
import { renderTemplate } from './template.ts';

/** The runners of every node type; models were resolved when the graph was compiled. */
export function createNodeRunner(options: {
  models: ReadonlyMap<string, ChatModel>;
  http: HttpCaller | undefined;
}): NodeRunner {
  const modelOf = (node: WorkflowNode): ChatModel => {
    const model = options.models.get(node.id);
    if (!model) throw new AppError('WORKFLOW_ERROR', `Node "${node.id}" has no model.`);
    return model;
  };

  return async (context: NodeContext): Promise<NodeResult> => {
    const { node, outputs, input } = context;
    const render = (template: string) => renderTemplate(template, outputs);
    switch (node.type) {
      case 'start':
        return { output: startOutputs(node, input.messages, input.inputs) };
      case 'template':
        return { output: { output: render(node.template) } };
      case 'condition': {
        const chosen = node.branches.find((branch) =>
          branch.conditions.every((condition) =>
            holds(render(condition.left), condition.operator, render(condition.right)),
          ),
        );
        return { output: { branch: chosen?.id ?? 'else' }, branch: chosen?.id ?? 'else' };
      }
      case 'llm': {
        // The caller's sampling parameters and tools reach the node (within the bot's callerLimits).
        const { text, reasoning, toolCalls } = await callModel(
          context,
          modelOf(node),
          Object.assign({}, input, {
            messages: promptMessages(node, render, input.messages),
            parameters: mergeParameters(node.parameters, input.parameters),
            forwarded: undefined,
          }),
          { stream: node.stream, keepReasoning: true },
        );
        // Only the caller's tools are offered here: a call is theirs to run.
        for (const call of toolCalls) {
          context.emit({ type: 'tool-call', index: context.nextToolIndex(), kind: 'tool', ...call });
        }
        return {
          output: { text, reasoning },
          ...(toolCalls.length > 0 ? { finishReason: 'tool_calls' as const } : {}),
        };
      }
      case 'agent': {
        const result = await runAgentLoop(context, {
          model: modelOf(node),
          messages: promptMessages(node, render, input.messages),
          tools: node.tools,
          maxLoopCount: node.maxLoopCount,
          parameters: mergeParameters(node.parameters, input.parameters),
          callerTools: input.tools ?? [],
          stream: node.stream,
          http: options.http,
        });
        return { output: { text: result.text }, finishReason: result.finishReason };
      }
      case 'http': {
        if (!options.http) throw new AppError('WORKFLOW_ERROR', 'HTTP nodes are not configured on this server.');
        const headers = Object.fromEntries(
          Object.entries(node.headers ?? {}).map(([name, value]) => [name, render(value)]),
        );
        const response = await options.http.call(
          {
            method: node.method,
            url: render(node.url),
            headers,
            body: node.body === undefined ? undefined : render(node.body),
            timeoutMs: node.timeoutMs ?? 10_000,
            maxResponseBytes: node.maxResponseBytes ?? 1024 * 1024,
          },
          context.signal,
        );
        return { output: { status: response.status, body: response.body, json: response.json } };
      }
      case 'end': {
        const output = render(node.template);
        // Streamed in pieces so long answers reach the caller as they are written out.
        for (const piece of output.match(/\S+\s*|\s+/g) ?? []) context.emit({ type: 'text-delta', text: piece });
        return { output: { output } };
      }
    }
  };
}

function startOutputs(
  node: Extract<WorkflowNode, { type: 'start' }>,
  messages: ModelMessage[],
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  const question = [...messages].reverse().find((message) => message.role === 'user')?.content ?? '';
  const output: Record<string, unknown> = { query: question };
  for (const declared of node.inputs) {
    const value = inputs[declared.name];
    if (value === undefined || value === null || value === '') {
      if (declared.required) {
        throw new AppError('VALIDATION_ERROR', `The workflow needs the input "${declared.name}" in parameters.`, {
          param: `parameters.${declared.name}`,
        });
      }
      output[declared.name] = '';
      continue;
    }
    if (declared.type === 'number' && typeof value !== 'number' && Number.isNaN(Number(value))) {
      throw new AppError('VALIDATION_ERROR', `The input "${declared.name}" must be a number.`, {
        param: `parameters.${declared.name}`,
      });
    }
    output[declared.name] = declared.type === 'number' ? Number(value) : value;
  }
  return output;
}

function promptMessages(
  node: Extract<WorkflowNode, { type: 'llm' | 'agent' }>,
  render: (template: string) => string,
  conversation: ModelMessage[],
): ModelMessage[] {
  const messages: ModelMessage[] = [];
  if (node.systemPrompt) messages.push({ role: 'system', content: render(node.systemPrompt) });
  if (node.prompt === undefined) {
    // An agent without a prompt works on the conversation itself.
    messages.push(...(node.withHistory ? conversation : conversation.slice(-1)));
    return messages;
  }
  if (node.withHistory) messages.push(...conversation.slice(0, -1));
  const prompt = render(node.prompt);
  // A prompt that quotes the question takes the question's images, audio and files along.
  const question = conversation.at(-1);
  const media = question?.role === 'user' ? question.parts?.filter((part) => part.type !== 'text') : undefined;
  const quotesQuestion = /\{\{\s*start\.query\s*\}\}/.test(node.prompt);
  messages.push(
    media?.length && quotesQuestion
      ? { role: 'user', content: prompt, parts: [{ type: 'text', text: prompt }, ...media] }
      : { role: 'user', content: prompt },
  );
  return messages;
}

function holds(left: string, operator: ConditionOperator, right: string): boolean {
  switch (operator) {
    case 'equals':
      return left === right;
    case 'not-equals':
      return left !== right;
    case 'contains':
      return left.includes(right);
    case 'not-contains':
      return !left.includes(right);
    case 'starts-with':
      return left.startsWith(right);
    case 'ends-with':
      return left.endsWith(right);
    case 'empty':
      return left.trim() === '';
    case 'not-empty':
      return left.trim() !== '';
    case 'greater-than':
      return Number(left) > Number(right);
    case 'less-than':
      return Number(left) < Number(right);
  }
}
