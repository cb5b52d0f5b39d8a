import { setTimeout as sleep } from 'node:timers/promises';
import type { Usage } from '@astron-chat/shared';
import { AppError } from '../../errors/app-error.ts';
import type { ChatModel, ModelMessage, ModelPart, ModelRequest } from '../chat-model.ts';

export const DEMO_MODEL_NAME = 'astron-demo (built-in demo model, not an LLM)';

/** Rough token count good enough for a demo: words and punctuation. */
export function countDemoTokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/**
 * A deterministic offline model for the demo and the tests. It answers from the question
 * itself, word by word, so every transport can be tried without an upstream. Ask it to
 * "think" and it streams a short reasoning first. Offered tools, it calls the first one, then
 * answers with the tool's result (enough to drive the demo agent offline).
 */
export function createDemoModel(options: { delayMs: number }): ChatModel {
  return {
    modelName: DEMO_MODEL_NAME,
    async *stream(request: ModelRequest, signal: AbortSignal): AsyncGenerator<ModelPart> {
      if (request.forwarded?.modalities?.includes('audio')) {
        throw new AppError(
          'VALIDATION_ERROR',
          'modalities: the built-in demo model answers in text only; ask a bot on an audio-capable provider for audio.',
          { param: 'modalities' },
        );
      }
      const lastUser = request.messages.findLastIndex((message) => message.role === 'user');
      const lastMessage = request.messages[lastUser];
      const question = lastMessage ? describeMessage(lastMessage) : '';
      const turns = request.messages.filter((message) => message.role === 'user').length;
      const toolResults = request.messages.slice(lastUser + 1).filter((message) => message.role === 'tool');
      const tool = request.tools?.[0];
      if (tool && toolResults.length === 0 && request.toolChoice !== 'none') {
        // Demo agent behaviour: offered tools and no result yet, call the first one.
        await (options.delayMs > 0 ? sleep(options.delayMs, undefined, { signal }) : Promise.resolve());
        signal.throwIfAborted();
        yield {
          type: 'tool-call',
          index: 0,
          id: `call_demo_${turns}`,
          kind: 'tool',
          name: tool.function.name,
          arguments: JSON.stringify(demoToolArguments(tool.function.parameters, question)),
        };
        const promptTokens = countPromptTokens(request.messages);
        yield { type: 'usage', usage: { promptTokens, completionTokens: 1, totalTokens: promptTokens + 1 } };
        yield { type: 'finish', finishReason: 'tool_calls' };
        return;
      }
      const thinking = /\bthink|reason|思考/i.test(question);
      const reasoning = thinking ? `The user asked ${countDemoTokens(question)} words; I will echo them back.` : '';
      const prose =
        `This is the astron-chat demo model (a built-in demo, not a real LLM). ` +
        (toolResults.length > 0
          ? `The tool answered: ${toolResults.map((message) => message.content.trim()).join(' ')}. `
          : '') +
        `You said: "${question.trim()}". This is turn ${turns} of our conversation.`;
      const answer = inFormat(request.forwarded?.response_format, prose);
      const maxTokens =
        request.parameters.maxCompletionTokens ?? request.parameters.maxTokens ?? Number.POSITIVE_INFINITY;
      const promptTokens = countPromptTokens(request.messages);

      const pace = async () => {
        if (options.delayMs > 0) await sleep(options.delayMs, undefined, { signal });
        else signal.throwIfAborted();
      };
      let streamedTokens = 0;
      let reported = false;
      let unreported: ((usage: Usage | undefined) => void) | undefined;
      request.trackUnreportedUsage?.(new Promise((resolve) => (unreported = resolve)));
      const usage = () => ({
        promptTokens,
        completionTokens: streamedTokens,
        totalTokens: promptTokens + streamedTokens,
      });
      try {
        for (const word of splitWords(reasoning)) {
          await pace();
          streamedTokens += 1;
          yield { type: 'reasoning-delta', text: word };
        }
        let answerTokens = 0;
        let finishReason: 'stop' | 'length' = 'stop';
        for (const word of splitWords(answer)) {
          if (answerTokens >= maxTokens) {
            finishReason = 'length';
            break;
          }
          await pace();
          answerTokens += 1;
          streamedTokens += 1;
          yield { type: 'text-delta', text: word };
        }
        reported = true;
        yield { type: 'usage', usage: usage() };
        yield { type: 'finish', finishReason };
      } finally {
        // Cancelled mid-answer: the words streamed so far still count.
        unreported?.(reported ? undefined : usage());
      }
    },
  };
}

/**
 * Arguments for the demo's tool call, from the tool's JSON schema: its first property gets the
 * arithmetic in the question when there is some (for a calculator), else the question itself.
 */
function demoToolArguments(parameters: Record<string, unknown> | undefined, question: string): Record<string, string> {
  const properties = (parameters?.properties ?? {}) as Record<string, unknown>;
  const name = Object.keys(properties)[0];
  if (name === undefined) return {};
  const arithmetic = question.match(/[-+*/().\d\s]*\d[-+*/().\d\s]*[-+*/][-+*/().\d\s]*\d[-+*/().\d\s]*/)?.[0]?.trim();
  return { [name]: arithmetic ?? question.trim() };
}

/**
 * JSON mode and structured outputs, as far as a demo can: JSON mode wraps the answer in an object,
 * a JSON schema gets a value of its shape (strings hold the answer). Other forwarded fields are
 * sampling controls a demo has nothing to apply to.
 */
function inFormat(format: NonNullable<ModelRequest['forwarded']>['response_format'], text: string): string {
  switch (format?.type) {
    case 'json_object':
      return JSON.stringify({ answer: text });
    case 'json_schema':
      return JSON.stringify(exampleOfSchema(format.json_schema.schema ?? {}, text));
    case 'text':
    case undefined:
      return text;
  }
}

type JsonSchema = {
  type?: unknown;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  anyOf?: JsonSchema[];
};

/** A value of a JSON schema's shape: every property present, as structured outputs answer. */
export function exampleOfSchema(schema: JsonSchema, text: string): unknown {
  if (schema.enum?.length) return schema.enum[0];
  if (schema.anyOf?.[0]) return exampleOfSchema(schema.anyOf[0], text);
  const type: unknown = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object':
      return Object.fromEntries(
        Object.entries(schema.properties ?? {}).map(([key, value]) => [key, exampleOfSchema(value, text)]),
      );
    case 'array':
      return schema.items ? [exampleOfSchema(schema.items, text)] : [];
    case 'integer':
    case 'number':
      return 42;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return text;
  }
}

function countPromptTokens(messages: ModelMessage[]): number {
  return messages.reduce((sum, message) => sum + countDemoTokens(describeMessage(message)), 0);
}

/** A message as the demo reads it: images, audio and files it cannot see are named, not dropped. */
function describeMessage(message: ModelMessage): string {
  if (message.role !== 'user' || !message.parts) return message.content;
  return message.parts
    .map((part) => {
      switch (part.type) {
        case 'text':
          return part.text;
        case 'image_url':
          return '[image]';
        case 'input_audio':
          return `[${part.input_audio.format} audio]`;
        case 'file':
          return `[file${part.file.filename ? ` ${part.file.filename}` : ''}]`;
      }
    })
    .join(' ');
}

/** Splits keeping the spaces attached, so the deltas concatenate back to the text. */
function splitWords(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}
