import type { AgentTool, FinishReason, OpenAITool } from '@astron-chat/shared';
import { AppError, isAbortError } from '../errors/app-error.ts';
import type { ChatModel, ModelMessage, ModelParameters } from '../providers/chat-model.ts';
import type { NodeContext } from './graph.ts';
import { callModel } from './model-call.ts';
import type { HttpCaller } from './http-call.ts';

/** How much of a tool's answer goes back to the model and into the event. */
const MAX_TOOL_RESULT_CHARS = 8_000;
/** Bots calling bots as tools: this deep at most. */
const MAX_BOT_TOOL_DEPTH = 3;

export type AgentOptions = {
  model: ChatModel;
  messages: ModelMessage[];
  tools: AgentTool[];
  /** The caller's own tools (request `tools`): a call to one ends the loop and goes to the caller to run. */
  callerTools: OpenAITool[];
  maxLoopCount: number;
  parameters: ModelParameters;
  /** Forward the model's text to the caller as it arrives. */
  stream: boolean;
  http: HttpCaller | undefined;
};

/**
 * The tool-calling loop: call the model with the tools; run every tool call it makes, report each
 * as a `tool-call` event with its result, feed the results back; again, until the model answers
 * without tools or `maxLoopCount` model calls were made — then it stops cleanly, with finish reason
 * `length` and a sentence saying why.
 */
export async function runAgentLoop(
  context: NodeContext,
  options: AgentOptions,
): Promise<{ text: string; finishReason: FinishReason; stoppedAtLimit: boolean }> {
  const messages = [...options.messages];
  const tools = [...options.tools.map(toOpenAITool), ...options.callerTools];
  const callerToolNames = new Set(options.callerTools.map((tool) => tool.function.name));
  let answer = '';
  for (let loop = 1; loop <= options.maxLoopCount; loop += 1) {
    const request = {
      messages,
      parameters: options.parameters,
      inputs: {},
      user: context.input.user,
      trackUnreportedUsage: context.input.trackUnreportedUsage,
      modelContext: context.input.modelContext,
      ...(tools.length > 0 ? { tools } : {}),
    };
    const {
      text,
      toolCalls: calls,
      finishReason,
    } = await callModel(context, options.model, request, {
      stream: options.stream,
      keepReasoning: false,
    });
    answer += text;
    if (calls.length === 0) return { text: answer, finishReason, stoppedAtLimit: false };

    const callerCalls = calls.filter((call) => callerToolNames.has(call.name));
    const serverCalls = calls.filter((call) => !callerToolNames.has(call.name));
    messages.push({ role: 'assistant', content: text, toolCalls: serverCalls });
    const results = await Promise.all(
      serverCalls.map(async (call) => {
        const tool = options.tools.find((candidate) => candidate.name === call.name);
        const startedAt = performance.now();
        const outcome = tool
          ? await runTool(tool, call.arguments, context, options.http)
          : { result: JSON.stringify({ error: `There is no tool "${call.name}".` }), failed: true };
        return { call, tool, ...outcome, durationMs: Math.round(performance.now() - startedAt) };
      }),
    );
    for (const { call, tool, result, failed, durationMs } of results) {
      const reason = text.trim() || `Round ${loop} of at most ${options.maxLoopCount}: the model called ${call.name}.`;
      context.emit({
        type: 'tool-call',
        index: context.nextToolIndex(),
        id: call.id,
        kind: tool?.type === 'bot' ? 'workflow' : 'tool',
        name: call.name,
        arguments: call.arguments,
        result,
        reason: failed ? `${reason} The tool failed; its error was given to the model.` : reason,
        durationMs,
      });
      messages.push({ role: 'tool', content: result, toolCallId: call.id });
    }
    if (callerCalls.length > 0) {
      // The caller runs these and comes back with their results as `tool` messages.
      for (const call of callerCalls) {
        context.emit({ type: 'tool-call', index: context.nextToolIndex(), kind: 'tool', ...call });
      }
      return { text: answer, finishReason: 'tool_calls', stoppedAtLimit: false };
    }
  }
  const notice = `\n\n[The agent stopped after ${options.maxLoopCount} model calls (max_loop_count) without a final answer.]`;
  if (options.stream) context.emit({ type: 'text-delta', text: notice });
  return { text: answer + notice, finishReason: 'length', stoppedAtLimit: true };
}

function toOpenAITool(tool: AgentTool): OpenAITool {
  const parameters =
    tool.type === 'bot'
      ? {
          type: 'object',
          properties: { query: { type: 'string', description: 'The question for the bot.' } },
          required: ['query'],
        }
      : (tool.parameters ?? { type: 'object', properties: {} });
  return { type: 'function', function: { name: tool.name, description: tool.description, parameters } };
}

/** Runs one tool call; failures become a result the model can read (the run goes on), aborts propagate. */
async function runTool(
  tool: AgentTool,
  argumentsText: string,
  context: NodeContext,
  http: HttpCaller | undefined,
): Promise<{ result: string; failed: boolean }> {
  try {
    let args: Record<string, unknown>;
    try {
      const parsed = JSON.parse(argumentsText || '{}') as unknown;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      args = parsed as Record<string, unknown>;
    } catch {
      throw new AppError('WORKFLOW_ERROR', `The arguments are not a JSON object: ${argumentsText.slice(0, 200)}`);
    }
    if (tool.type === 'http') {
      if (!http) throw new AppError('WORKFLOW_ERROR', 'HTTP tools are not configured on this server.');
      let url = tool.url;
      let body: string | undefined;
      if (tool.method === 'GET') {
        const query = new URLSearchParams(
          Object.entries(args).map(([key, value]): [string, string] => [
            key,
            typeof value === 'string' ? value : JSON.stringify(value),
          ]),
        );
        url += (url.includes('?') ? '&' : '?') + query.toString();
      } else {
        body = JSON.stringify(args);
      }
      const response = await http.call(
        {
          method: tool.method,
          url,
          headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...tool.headers },
          body,
          timeoutMs: tool.timeoutMs ?? 10_000,
          maxResponseBytes: tool.maxResponseBytes ?? 1024 * 1024,
        },
        context.signal,
      );
      return { result: response.body.slice(0, MAX_TOOL_RESULT_CHARS), failed: false };
    }
    const depth = context.input.depth ?? 0;
    if (!context.input.runBot) throw new AppError('WORKFLOW_ERROR', 'Bots as tools are not available here.');
    if (depth >= MAX_BOT_TOOL_DEPTH)
      throw new AppError('WORKFLOW_ERROR', `Bots may call bots only ${MAX_BOT_TOOL_DEPTH} deep.`);
    const query = typeof args.query === 'string' ? args.query : JSON.stringify(args);
    let text = '';
    for await (const part of context.input.runBot(tool.botId, query, context.signal)) {
      if (part.type === 'text-delta') text += part.text;
      else if (part.type === 'usage') context.emit(part);
    }
    return { result: text.slice(0, MAX_TOOL_RESULT_CHARS), failed: false };
  } catch (error) {
    if (context.signal.aborted || isAbortError(error)) throw error;
    const message = error instanceof AppError ? error.message : 'internal error';
    return { result: JSON.stringify({ error: message }), failed: true };
  }
}
