import type { FinishReason, Usage } from '@astron-chat/shared';
import { isAbortError } from '../errors/app-error.ts';
import type { ChatModel, ModelPart, ModelRequest } from '../providers/chat-model.ts';
import { ProviderError } from '../providers/provider-error.ts';
import type { Metrics } from './metrics.ts';
import { tracing } from './tracing.ts';

/** What an upstream failure was, for `astron_chat_upstream_errors_total{class}` and `error.type`. */
export function upstreamErrorClass(error: unknown): string {
  if (isAbortError(error)) return 'cancelled';
  if ((error as Error | undefined)?.name === 'TimeoutError') return 'timeout';
  if (error instanceof ProviderError) {
    const { status } = error;
    if (status === undefined) return /reach/.test(error.message) ? 'unreachable' : 'bad_response';
    if (status === 429) return 'rate_limited';
    if (status === 408 || status === 504) return 'timeout';
    return status >= 500 ? 'server_error' : 'client_error';
  }
  return 'other';
}

/**
 * A provider's model, measured (the GenAI client metrics, per call to the provider: a retry or a
 * fallback is a call of its own) and, with tracing on, traced (a `chat {model}` span whose context
 * travels upstream as `traceparent`). The registry wraps every provider model with this, so it is
 * one place for every provider; the providers themselves know nothing of it.
 */
export function instrumentModel(model: ChatModel, provider: string, metrics: Metrics): ChatModel {
  const labels = {
    gen_ai_operation_name: 'chat',
    gen_ai_provider_name: provider,
    gen_ai_request_model: model.modelName,
  };
  const inputLabels = { ...labels, gen_ai_token_type: 'input' };
  const outputLabels = { ...labels, gen_ai_token_type: 'output' };
  const succeededLabels = { ...labels, error_type: '' };
  return {
    modelName: model.modelName,
    stream(request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelPart> {
      const startedAt = performance.now();
      const span = tracing.enabled ? tracing.startModelCall(provider, model.modelName, request) : undefined;
      const parts = model.stream(span ? Object.assign({}, request, { traceHeaders: span.headers }) : request, signal);
      const iterator = parts[Symbol.asyncIterator]();
      let first = true;
      let ended = false;
      let usage: Usage | undefined;
      let finishReason: FinishReason | undefined;
      const end = (error?: unknown) => {
        if (ended) return;
        ended = true;
        const seconds = (performance.now() - startedAt) / 1000;
        const errorType = error === undefined ? '' : upstreamErrorClass(error);
        metrics.genAiOperationDuration.observe(
          errorType === '' ? succeededLabels : Object.assign({}, labels, { error_type: errorType }),
          seconds,
        );
        if (error !== undefined && errorType !== 'cancelled')
          metrics.upstreamErrors.inc({ provider, class: errorType });
        if (usage) {
          metrics.genAiTokenUsage.observe(inputLabels, usage.promptTokens);
          metrics.genAiTokenUsage.observe(outputLabels, usage.completionTokens);
        }
        span?.end({ usage, finishReason, errorType: errorType || undefined, error });
      };
      // A plain iterator with one `then` per part, not a generator re-yielding every part: each
      // layer costs promises per event (docs/decisions/2026-11-25-fewer-layers-per-event.md).
      const onPart = (step: IteratorResult<ModelPart>): IteratorResult<ModelPart> => {
        if (first) {
          first = false;
          if (!step.done) metrics.genAiTimeToFirstChunk.observe(labels, (performance.now() - startedAt) / 1000);
        }
        if (step.done) end();
        else if (step.value.type === 'usage') usage = step.value.usage;
        else if (step.value.type === 'finish') finishReason = step.value.finishReason;
        else if (span && step.value.type === 'text-delta') span.addText(step.value.text);
        return step;
      };
      const onError = (error: unknown): never => {
        end(error);
        throw error;
      };
      const instrumented: AsyncIterableIterator<ModelPart> = {
        next: () => iterator.next().then(onPart, onError),
        return: async (value?: unknown) => {
          end(signal.aborted ? signal.reason : undefined);
          return (await iterator.return?.(value)) ?? { done: true, value: undefined };
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
      return instrumented;
    },
  };
}
