import { AppError } from '../errors/app-error.ts';
import { classifyModelError, ModelCallFailedError } from '../providers/resilient-model.ts';
import {
  RETRY_PLANS,
  backoffDelayMs,
  errorClassOfStatus,
  retryPlanFor,
  type ErrorClass,
  type RetryPlan,
} from '../errors/retry-policy.ts';

export { RETRY_PLANS, backoffDelayMs, errorClassOfStatus, retryPlanFor, type ErrorClass, type RetryPlan };

/** An error from a node's own HTTP call (node `http`, http tools); `status` when the server answered. */
export class HttpCallError extends AppError {
  readonly status: number | undefined;
  readonly errorClass: ErrorClass;

  constructor(
    message: string,
    options: {
      status?: number | undefined;
      errorClass: ErrorClass;
      timeout?: boolean;
      /** The answer's `Retry-After`, seconds: a retry waits at least this long. */
      retryAfterSeconds?: number | undefined;
    },
  ) {
    super(options.timeout ? 'TIMEOUT_ERROR' : 'WORKFLOW_ERROR', message, {
      retryable: options.errorClass !== 'business',
      ...(options.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: options.retryAfterSeconds }),
    });
    this.status = options.status;
    this.errorClass = options.errorClass;
  }
}

/** A node attempt that ran past its `timeoutMs`. */
export class NodeTimeoutError extends AppError {
  constructor(nodeId: string, timeoutMs: number) {
    super('TIMEOUT_ERROR', `Node "${nodeId}" timed out after ${timeoutMs} ms.`);
  }
}

/** Which retry class an error falls in; anything unknown is a business error (never retried). */
export function classifyError(error: unknown): ErrorClass {
  if (error instanceof HttpCallError) return error.errorClass;
  if (error instanceof NodeTimeoutError) return 'network-timeout';
  // The model call already went through its retries and fallbacks (providers/resilient-model.ts).
  if (error instanceof ModelCallFailedError) return 'business';
  return classifyModelError(error);
}
