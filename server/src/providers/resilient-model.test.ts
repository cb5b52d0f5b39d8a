import { describe, expect, it } from 'vitest';
import { AppError } from '../errors/app-error.ts';
import { createScriptedModel, type ScriptedCall } from '../../test/support/scripted-model.ts';
import type { ChatModel, ModelPart } from './chat-model.ts';
import { ProviderError } from './provider-error.ts';
import { createResilientModel, ModelCallFailedError } from './resilient-model.ts';

const request = { messages: [{ role: 'user' as const, content: 'q' }], parameters: {} };

function modelsOf(scripts: Record<string, Array<ScriptedCall>>) {
  const scripted = Object.fromEntries(
    Object.entries(scripts).map(([name, calls]) => [name, createScriptedModel((_request, call) => calls[call] ?? {})]),
  );
  const model = (candidates: string[], retryDelayScale = 0.001) =>
    createResilientModel({
      candidates: candidates.map((provider) => ({ provider })),
      modelName: () => 'm',
      resolve: (candidate): Promise<ChatModel> => {
        const found = scripted[candidate.provider];
        return found ? Promise.resolve(found.model) : Promise.reject(new AppError('WORKFLOW_ERROR', 'unknown'));
      },
      retryDelayScale,
    });
  return { scripted, model };
}

async function collect(parts: AsyncIterable<ModelPart>): Promise<string> {
  let text = '';
  for await (const part of parts) if (part.type === 'text-delta') text += part.text;
  return text;
}

describe('the resilient model', () => {
  it('retries by class, then falls back, and says which provider answered', async () => {
    const { scripted, model } = modelsOf({
      a: [{ error: ProviderError.fromStatus(500, '') }, { error: ProviderError.fromStatus(401, '') }],
      b: [{ text: ['from b'] }],
    });
    const answered: string[] = [];
    const text = await collect(
      model(['a', 'gone', 'b']).stream(
        { ...request, context: { onAnswer: (answer) => answered.push(answer.provider) } },
        new AbortController().signal,
      ),
    );
    expect(text).toBe('from b');
    // 500 (network class, retry 1 of 3), then 401 on the retry: the auth class allows 1 retry, and this was the 2nd attempt.
    expect(scripted.a!.calls).toHaveLength(2);
    expect(answered).toEqual(['b']);
  });

  it('does not retry or fall back after the first part, nor on a business error', async () => {
    const { scripted, model } = modelsOf({
      a: [
        { text: ['one', 'two'], failAfter: 1, error: ProviderError.fromStatus(500, '') },
        { error: ProviderError.fromStatus(400, 'bad') },
      ],
      b: [{ text: ['never'] }],
    });
    await expect(collect(model(['a', 'b']).stream(request, new AbortController().signal))).rejects.toThrow('HTTP 500');
    const refused = await collect(model(['a', 'b']).stream(request, new AbortController().signal)).catch(
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ProviderError);
    expect(scripted.a!.calls).toHaveLength(2);
    expect(scripted.b!.calls).toHaveLength(0);
  });

  it('stops waiting between retries as soon as the call is aborted', async () => {
    const { model } = modelsOf({ a: Array.from({ length: 5 }, () => ({ error: ProviderError.fromStatus(503, '') })) });
    const controller = new AbortController();
    const startedAt = Date.now();
    setTimeout(() => controller.abort(), 50);
    await expect(collect(model(['a'], 1).stream(request, controller.signal))).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(Date.now() - startedAt).toBeLessThan(900); // the resource class waits ~1 s before its first retry
  });

  it('gives up with the last failure, naming what it tried', async () => {
    const { model } = modelsOf({ a: Array.from({ length: 4 }, () => ({ error: ProviderError.fromStatus(502, '') })) });
    const error = await collect(model(['a']).stream(request, new AbortController().signal)).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ModelCallFailedError);
    expect((error as AppError).code).toBe(1009);
    expect((error as AppError).message).toContain('tried a ×4');
  });
});
