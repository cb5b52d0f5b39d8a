/**
 * The design's error classes and retry table (聊天服务核心逻辑 → 错误恢复策略), used by workflow nodes
 * and by every model call (providers/resilient-model.ts): one table, one jitter.
 */
export type ErrorClass = 'network-timeout' | 'auth' | 'business' | 'resource';

export type RetryPlan = { maxRetries: number; backoff: 'exponential' | 'fixed' | 'immediate'; delayMs: number };

/** Defaults per class: network timeout 3× exponential, auth 1× immediate, business 0, resource exhaustion 2× fixed. */
export const RETRY_PLANS: Record<ErrorClass, RetryPlan> = {
  'network-timeout': { maxRetries: 3, backoff: 'exponential', delayMs: 500 },
  auth: { maxRetries: 1, backoff: 'immediate', delayMs: 0 },
  business: { maxRetries: 0, backoff: 'immediate', delayMs: 0 },
  resource: { maxRetries: 2, backoff: 'fixed', delayMs: 1000 },
};

/** A bot's own retry settings (a workflow node's `retry`): override every class but business. */
export type RetryOverride = {
  maxRetries?: number | undefined;
  backoff?: RetryPlan['backoff'] | undefined;
  delayMs?: number | undefined;
};

/** The plan for a class; an override changes every class but business, which is never retried. */
export function retryPlanFor(errorClass: ErrorClass, override: RetryOverride | undefined): RetryPlan {
  const plan = RETRY_PLANS[errorClass];
  if (errorClass === 'business' || !override) return plan;
  return {
    maxRetries: override.maxRetries ?? plan.maxRetries,
    backoff: override.backoff ?? plan.backoff,
    delayMs: override.delayMs ?? plan.delayMs,
  };
}

export function errorClassOfStatus(status: number): ErrorClass {
  if (status === 401 || status === 403) return 'auth';
  if (status === 429 || status === 503 || status === 529) return 'resource';
  if (status === 408 || status >= 500) return 'network-timeout';
  return 'business';
}

/** Delay before retry number `retry` (1-based), with ±20 % jitter so retries of many runs spread out. */
export function backoffDelayMs(plan: RetryPlan, retry: number, random: () => number = Math.random): number {
  if (plan.backoff === 'immediate' || plan.delayMs === 0) return 0;
  const base = plan.backoff === 'exponential' ? plan.delayMs * 2 ** (retry - 1) : plan.delayMs;
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * A `Retry-After` longer than this is not waited for (a model call tries its next fallback at once, a
 * workflow node gives up): a run would otherwise hang on it until its own timeout.
 */
export const MAX_RETRY_AFTER_MS = 30_000;
