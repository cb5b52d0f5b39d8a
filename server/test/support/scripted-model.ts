import { setTimeout as sleep } from 'node:timers/promises';
import type { ChatModel, ModelPart, ModelRequest } from '../../src/providers/chat-model.ts';
import type { ModelRegistry } from '../../src/providers/model-registry.ts';

/** What a scripted model does on one call; a function of the request, so tests can branch on the prompt. */
export type ScriptedCall = {
  text?: string[];
  toolCalls?: Array<{ name: string; arguments: string }>;
  delayMs?: number;
  /** Thrown before anything (or after `failAfter` text parts). */
  error?: Error;
  failAfter?: number;
};

/**
 * A controllable ChatModel for engine tests: records every call, honours its signal, and
 * answers by `script(request, callIndex)`.
 */
export function createScriptedModel(script: (request: ModelRequest, call: number) => ScriptedCall) {
  const calls: Array<{ request: ModelRequest; startedAt: number; endedAt?: number; aborted: boolean }> = [];
  const model: ChatModel = {
    modelName: 'scripted',
    async *stream(request: ModelRequest, signal: AbortSignal): AsyncGenerator<ModelPart> {
      const entry: (typeof calls)[number] = { request, startedAt: Date.now(), aborted: false };
      calls.push(entry);
      const plan = script(request, calls.length - 1);
      try {
        if (plan.error && plan.failAfter === undefined) throw plan.error;
        for (const [index, text] of (plan.text ?? ['ok']).entries()) {
          if (plan.error && plan.failAfter === index) throw plan.error;
          if (plan.delayMs) await sleep(plan.delayMs, undefined, { signal });
          yield { type: 'text-delta', text };
        }
        for (const [index, call] of (plan.toolCalls ?? []).entries()) {
          yield {
            type: 'tool-call',
            index,
            id: `call_${calls.length}_${index}`,
            kind: 'tool',
            name: call.name,
            arguments: call.arguments,
          };
        }
        yield { type: 'usage', usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 } };
        yield { type: 'finish', finishReason: plan.toolCalls?.length ? 'tool_calls' : 'stop' };
      } catch (error) {
        entry.aborted = signal.aborted;
        throw error;
      } finally {
        entry.endedAt = Date.now();
      }
    },
  };
  const registry = { providerIds: () => ['scripted'], resolve: () => model } as unknown as ModelRegistry;
  return { model, registry, calls };
}
