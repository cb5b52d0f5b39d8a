import type { z } from 'zod';
import type { nodeRetrySchema } from '@astron-chat/shared';
import { AppError } from '../errors/app-error.ts';
import { ProviderError } from '../providers/provider-error.ts';

/** The design's error classes (聊天服务核心逻辑 → 错误恢复策略). */
export type ErrorClass = 'network-timeout' | 'auth' | 'business' | 'resource';

export type RetryPlan = { maxRetries: number; backoff: 'exponential' | 'fixed' | 'immediate'; delayMs: number };

/** Defaults per class: network timeout 3× exponential, auth 1× immediate, business 0, resource exhaustion 2× fixed. */
export const RETRY_PLANS: Record<ErrorClass, RetryPlan> = {
  'network-timeout': { maxRetries: 3, backoff: 'exponential', delayMs: 500 },
  auth: { maxRetries: 1, backoff: 'immediate', delayMs: 0 },
  business: { maxRetries: 0, backoff: 'immediate', delayMs: 0 },
  resource: { maxRetries: 2, backoff: 'fixed', delayMs: 1000 },
};

/** An error from a node's own HTTP call (node `http`, http tools); `status` when the server answered. */
export class HttpCallError extends AppError {
  readonly status: number | undefined;
  readonly errorClass: ErrorClass;

  constructor(message: string, options: { status?: number | undefined; errorClass: ErrorClass; timeout?: boolean }) {
    super(options.timeout ? 'TIMEOUT_ERROR' : 'WORKFLOW_ERROR', message, {
      retryable: options.errorClass !== 'business',
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

export function errorClassOfStatus(status: number): ErrorClass {
  if (status === 401 || status === 403) return 'auth';
  if (status === 429 || status === 503 || status === 529) return 'resource';
  if (status === 408 || status >= 500) return 'network-timeout';
  return 'business';
}

/** Which retry class an error falls in; anything unknown is a business error (never retried). */
export function classifyError(error: unknown): ErrorClass {
  if (error instanceof HttpCallError) return error.errorClass;
  if (error instanceof NodeTimeoutError) return 'network-timeout';
  if (error instanceof ProviderError) {
    if (error.status !== undefined) return errorClassOfStatus(error.status);
    // No status: the connection failed or dropped (retryable) or the answer was garbage (not).
    return error.retryable ? 'network-timeout' : 'business';
  }
  if (error instanceof AppError && error.errorName === 'TIMEOUT_ERROR') return 'network-timeout';
  return 'business';
}

/** The plan for a class; a node's own `retry` overrides every class but business. */
export function retryPlanFor(errorClass: ErrorClass, override: z.infer<typeof nodeRetrySchema> | undefined): RetryPlan {
  const plan = RETRY_PLANS[errorClass];
  if (errorClass === 'business' || !override) return plan;
  return {
    maxRetries: override.maxRetries ?? plan.maxRetries,
    backoff: override.backoff ?? plan.backoff,
    delayMs: override.delayMs ?? plan.delayMs,
  };
}

/** Delay before retry number `retry` (1-based), with ±20 % jitter so retries of many runs spread out. */
export function backoffDelayMs(plan: RetryPlan, retry: number, random: () => number = Math.random): number {
  if (plan.backoff === 'immediate' || plan.delayMs === 0) return 0;
  const base = plan.backoff === 'exponential' ? plan.delayMs * 2 ** (retry - 1) : plan.delayMs;
  return Math.round(base * (0.8 + 0.4 * random()));
}
