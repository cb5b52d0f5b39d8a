import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowNode } from '@astron-chat/shared';
import { AppError, isAbortError } from '../errors/app-error.ts';
import { addUsage } from '../lib/usage.ts';
import { ProviderError } from '../providers/provider-error.ts';
import { MAX_RETRY_AFTER_MS } from '../errors/retry-policy.ts';
import { backoffDelayMs, classifyError, NodeTimeoutError, retryPlanFor } from './error-policy.ts';
import type { BotInput, NodeRunReport } from './execution.ts';
import type { NodePart, NodeResult, NodeRunner } from './graph.ts';
import type { NodeOutputs } from './template.ts';

const DEFAULT_TIMEOUT_MS: Partial<Record<WorkflowNode['type'], number>> = { http: 10_000 };
const FALLBACK_TIMEOUT_MS = 60_000;

/** A node's result once its attempts are over; `failed` when a `fail-branch` strategy absorbed the error. */
export type SettledNode = NodeResult & { failed?: boolean };

/** What the scheduler gives a node's attempts: the run around them, and where their events go. */
export type AttemptHost = {
  /** The run's signal: aborted when the run is cancelled or another node failed it. */
  signal: AbortSignal;
  outputs: NodeOutputs;
  input: BotInput;
  runNode: NodeRunner;
  /** Test seam: retry delays are multiplied by this. */
  retryDelayScale: number;
  emit: (part: NodePart) => void;
  nextToolIndex: () => number;
  /**
   * A step event of this node. `last` marks the node's final step-end (succeeded, or failed for
   * good), so progress can count the node as done in it.
   */
  step(
    type: 'step-start' | 'step-end',
    status: 'running' | 'succeeded' | 'failed',
    attempt: number,
    error: string | undefined,
    last: boolean,
  ): void;
};

/**
 * Runs one node until it succeeds or fails for good: each attempt under the node's timeout, a
 * failure retried by its error class (never once output was streamed), then the node's error
 * strategy — `abort` rejects with the run-level error, `default` and `fail-branch` resolve.
 * Fills in `entry` (attempts, status, usage, error, strategy, output) as it goes.
 */
export async function runNodeAttempts(
  node: WorkflowNode,
  entry: NodeRunReport,
  host: AttemptHost,
): Promise<SettledNode> {
  const { signal } = host;
  const timeoutMs = node.timeoutMs ?? DEFAULT_TIMEOUT_MS[node.type] ?? FALLBACK_TIMEOUT_MS;
  for (let attempt = 1; ; attempt += 1) {
    entry.attempts = attempt;
    host.step('step-start', 'running', attempt, undefined, false);
    let streamed = false;
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(new NodeTimeoutError(node.id, timeoutMs)), timeoutMs);
    const attemptSignal = AbortSignal.any([signal, timer.signal]);
    try {
      const work = () =>
        host.runNode({
          node,
          outputs: host.outputs,
          input: host.input,
          signal: attemptSignal,
          emit(part) {
            if (attemptSignal.aborted) return;
            if (part.type === 'usage') entry.usage = addUsage(entry.usage, part.usage);
            else streamed = true;
            host.emit(part);
          },
          nextToolIndex: host.nextToolIndex,
        });
      const { traceAttempt } = host.input;
      const result = await untilAborted(traceAttempt ? traceAttempt(node, attempt, work) : work(), attemptSignal);
      entry.status = 'succeeded';
      entry.finishedAt = Date.now();
      entry.output = result.output;
      host.step('step-end', 'succeeded', attempt, undefined, true);
      return result;
    } catch (caught) {
      if (signal.aborted) throw caught; // cancelled, or another node failed the run
      const error = timer.signal.aborted ? (timer.signal.reason as Error) : caught;
      const errorClass = classifyError(error);
      const plan = retryPlanFor(errorClass, node.retry);
      const message = describeError(error);
      const nodeError = toNodeError(error, node);
      entry.error = { code: nodeError.code, message: nodeError.message };
      // A 429's Retry-After is waited for (the test seam scales our backoff, never what the server asked).
      const retryAfterMs = (error instanceof AppError ? (error.retryAfterSeconds ?? 0) : 0) * 1000;
      if (!streamed && attempt <= plan.maxRetries && retryAfterMs <= MAX_RETRY_AFTER_MS) {
        const delay = Math.round(Math.max(backoffDelayMs(plan, attempt) * host.retryDelayScale, retryAfterMs));
        host.step(
          'step-end',
          'failed',
          attempt,
          `${message} (${errorClass}; retry ${attempt} of ${plan.maxRetries} in ${delay} ms)`,
          false,
        );
        await sleep(delay, undefined, { signal });
        continue;
      }
      entry.status = timer.signal.aborted ? 'timeout' : 'failed';
      entry.finishedAt = Date.now();
      const strategy = node.onError ?? { strategy: 'abort' as const };
      const why =
        streamed && attempt <= plan.maxRetries ? `${message} (not retried: output already streamed)` : message;
      host.step('step-end', 'failed', attempt, why, true);
      switch (strategy.strategy) {
        case 'abort':
          throw nodeError;
        case 'default':
          entry.strategy = 'default';
          return { output: { ...strategy.output, error: message } };
        case 'fail-branch':
          entry.strategy = 'fail-branch';
          return { output: { error: message }, failed: true };
      }
    } finally {
      clearTimeout(timeout);
    }
  }
}

function describeError(error: unknown): string {
  if (error instanceof AppError) return error.message;
  if (isAbortError(error)) return 'aborted';
  return 'internal error';
}

/** The run-level error for a node that failed for good: keeps 1005 (timeout) and 1009 (provider), else 1004. */
function toNodeError(error: unknown, node: WorkflowNode): AppError {
  const where = `Node "${node.id}" (${node.type})`;
  let appError: AppError;
  if (error instanceof AppError && error.errorName === 'TIMEOUT_ERROR') {
    appError = new AppError(
      'TIMEOUT_ERROR',
      error.message.startsWith('Node') ? error.message : `${where}: ${error.message}`,
      { cause: error },
    );
  } else if (error instanceof ProviderError) {
    // The provider's fault keeps its code (a 429 stays the rate limit it is) and its Retry-After.
    appError = new AppError(error.errorName, `${where}: ${error.message}`, {
      retryable: error.retryable,
      cause: error,
      ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    });
  } else {
    appError = new AppError('WORKFLOW_ERROR', `${where} failed: ${describeError(error)}`, { cause: error });
  }
  return appError;
}

/** Settles with `work`, or rejects as soon as `signal` aborts: a node that ignores its signal still ends on time. */
function untilAborted<Value>(work: Promise<Value>, signal: AbortSignal): Promise<Value> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<Value>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
