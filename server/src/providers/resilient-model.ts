import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, isAbortError } from '../errors/app-error.ts';
import {
  backoffDelayMs,
  errorClassOfStatus,
  MAX_RETRY_AFTER_MS,
  retryPlanFor,
  type ErrorClass,
} from '../errors/retry-policy.ts';
import type { ChatModel, ModelCallContext, ModelPart, ModelRequest } from './chat-model.ts';
import { ProviderError } from './provider-error.ts';

/** One provider and model to try; a bot's model, then its fallbacks, in order. */
export type ModelCandidate = { provider: string; name?: string | undefined };

/**
 * The model a bot's model call goes to (chat bots, workflow `llm` nodes, agents: every caller gets
 * its models from the registry, so every call goes through here). A failure before the first part
 * is retried by its class with the design's table (errors/retry-policy.ts), a 429's `Retry-After`
 * honoured, then the next candidate is tried; once a part has come out nothing is retried, as the
 * caller may already have shown it. A business error (a 400, garbage) is not retried and ends the
 * call: another provider would most likely refuse the same request.
 *
 * After the first part the provider's own iterator is handed out as it is, without a layer that
 * would re-yield every delta (docs/decisions/2026-11-25-fewer-layers-per-event.md).
 */
export function createResilientModel(options: {
  candidates: ModelCandidate[];
  modelName: () => string;
  /** The candidate's model; throws (AppError) when its provider is unknown or not for this app. */
  resolve: (candidate: ModelCandidate, context: ModelCallContext | undefined) => Promise<ChatModel>;
  /** Test seam: retry delays are multiplied by this. Default 1. */
  retryDelayScale?: number | undefined;
  onRetry?: ((event: { provider: string; attempt: number; delayMs: number; error: AppError }) => void) | undefined;
}): ChatModel {
  const scale = options.retryDelayScale ?? 1;

  async function start(
    request: ModelRequest,
    signal: AbortSignal,
  ): Promise<{ iterator: AsyncIterator<ModelPart>; first: IteratorResult<ModelPart> }> {
    const tried: string[] = [];
    let last: unknown;
    for (const candidate of options.candidates) {
      let model: ChatModel;
      try {
        model = await options.resolve(candidate, request.context);
      } catch (error) {
        // A fallback that was deleted or is not for this app is passed over, not the end of the call.
        if (options.candidates.length === 1) throw error;
        last ??= error;
        tried.push(`${candidate.provider} (${(error as Error).message})`);
        continue;
      }
      for (let attempt = 1; ; attempt += 1) {
        signal.throwIfAborted();
        const iterator = model.stream(request, signal)[Symbol.asyncIterator]();
        try {
          const first = await iterator.next();
          request.context?.onAnswer?.({ provider: candidate.provider, model: model.modelName });
          return { iterator, first };
        } catch (error) {
          if (signal.aborted || isAbortError(error)) throw error;
          last = error;
          const errorClass = classifyModelError(error);
          if (errorClass === 'business') {
            if (tried.length === 0 && attempt === 1) throw error;
            throw exhausted(error, [...tried, `${candidate.provider} ×${attempt}`]);
          }
          const plan = retryPlanFor(errorClass, request.context?.retry);
          const retryAfterMs = ((error as AppError).retryAfterSeconds ?? 0) * 1000;
          if (attempt > plan.maxRetries || retryAfterMs > MAX_RETRY_AFTER_MS) {
            tried.push(`${candidate.provider} ×${attempt}`);
            break;
          }
          // The test seam scales our backoff, never what the provider asked for.
          const delayMs = Math.round(Math.max(backoffDelayMs(plan, attempt) * scale, retryAfterMs));
          options.onRetry?.({ provider: candidate.provider, attempt, delayMs, error: error as AppError });
          if (delayMs > 0) await sleep(delayMs, undefined, { signal });
        }
      }
    }
    throw exhausted(last, tried);
  }

  return {
    get modelName() {
      return options.modelName();
    },
    stream(request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelPart> {
      let inner: AsyncIterator<ModelPart> | undefined;
      const iterator: AsyncIterableIterator<ModelPart> = {
        [Symbol.asyncIterator]: () => iterator,
        next() {
          if (inner) return inner.next();
          return start(request, signal).then(({ iterator: started, first }) => {
            inner = started;
            return first;
          });
        },
        return(value?: unknown) {
          return inner?.return
            ? inner.return(value)
            : Promise.resolve({ done: true, value: undefined } as IteratorReturnResult<undefined>);
        },
      };
      return iterator;
    },
  };
}

/**
 * A model call that failed on every candidate after its retries. It keeps the last failure's code,
 * and workflow nodes do not retry it again (classifyError in workflow/error-policy.ts).
 */
export class ModelCallFailedError extends AppError {
  constructor(last: AppError, tried: string[]) {
    super(last.errorName, `${last.message} (tried ${tried.join(', ')})`, {
      retryable: last.retryable,
      cause: last,
      ...(last.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: last.retryAfterSeconds }),
    });
  }
}

function exhausted(last: unknown, tried: string[]): AppError {
  const error =
    last instanceof AppError
      ? last
      : new AppError('UPSTREAM_ERROR', 'No model provider could answer.', { cause: last, retryable: true });
  return new ModelCallFailedError(error, tried);
}

/** The retry class of a model call's failure: by HTTP status when the provider answered, else by what failed. */
export function classifyModelError(error: unknown): ErrorClass {
  if (error instanceof ProviderError) {
    if (error.status !== undefined) return errorClassOfStatus(error.status);
    // No status: the connection failed or dropped (retryable) or the answer was garbage (not).
    return error.retryable ? 'network-timeout' : 'business';
  }
  if (error instanceof AppError && error.errorName === 'TIMEOUT_ERROR') return 'network-timeout';
  if (error instanceof AppError && error.errorName === 'OVERLOADED') return 'resource';
  return 'business';
}
