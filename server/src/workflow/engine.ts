import { setTimeout as sleep } from 'node:timers/promises';
import type { FinishReason, Usage, WorkflowEdge, WorkflowNode } from '@astron-chat/shared';
import { AppError, isAbortError } from '../errors/app-error.ts';
import { ProviderError } from '../providers/provider-error.ts';
import type { NodeRunRecord } from '../store/node-run.repository.ts';
import { backoffDelayMs, classifyError, NodeTimeoutError, retryPlanFor } from './error-policy.ts';
import type { BotInput, ExecutionPart } from './execute-bot.ts';
import type { NodeOutputs } from './template.ts';

/** A DAG ready to run: checked when saved, compiled once per bot version. */
export type CompiledGraph = {
  nodes: ReadonlyMap<string, WorkflowNode>;
  outgoing: ReadonlyMap<string, WorkflowEdge[]>;
  incoming: ReadonlyMap<string, WorkflowEdge[]>;
  startId: string;
  /** Whether step events reach the caller (off for plain `chat` bots, which have one model call). */
  reportSteps: boolean;
};

/** Parts a node may send the caller; anything but usage counts as streamed output (no retry after it). */
export type NodePart = Extract<ExecutionPart, { type: 'text-delta' | 'reasoning-delta' | 'tool-call' | 'usage' }>;

export type NodeContext = {
  node: WorkflowNode;
  outputs: NodeOutputs;
  input: BotInput;
  signal: AbortSignal;
  emit(part: NodePart): void;
  /** Run-wide index for `tool-call` events. */
  nextToolIndex(): number;
};

export type NodeResult = {
  output: Record<string, unknown>;
  /** A condition's chosen branch (`else` when none held). */
  branch?: string;
  /** Set by agents that stopped at `maxLoopCount`. */
  finishReason?: FinishReason;
};

export type NodeRunner = (context: NodeContext) => Promise<NodeResult>;

const DEFAULT_TIMEOUT_MS: Partial<Record<WorkflowNode['type'], number>> = { http: 10_000 };
const FALLBACK_TIMEOUT_MS = 60_000;

export function compileGraph(nodes: WorkflowNode[], edges: WorkflowEdge[], reportSteps = true): CompiledGraph {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const outgoing = new Map<string, WorkflowEdge[]>(nodes.map((node) => [node.id, []]));
  const incoming = new Map<string, WorkflowEdge[]>(nodes.map((node) => [node.id, []]));
  for (const edge of edges) {
    outgoing.get(edge.source)?.push(edge);
    incoming.get(edge.target)?.push(edge);
  }
  const start = nodes.find((node) => node.type === 'start');
  if (!start) throw new AppError('WORKFLOW_ERROR', 'The workflow has no start node.');
  return { nodes: byId, outgoing, incoming, startId: start.id, reportSteps };
}

type EdgeState = 'pending' | 'taken' | 'dead';

/**
 * Runs a graph. Every node whose inputs are settled starts at once, so independent branches run in
 * parallel; a join waits for all its incoming edges and runs if any of them was taken (else it is
 * skipped, and so is everything only it leads to). Parts reach the caller as nodes produce them.
 * A failing node is retried by its error class, then follows its error strategy. Aborting `signal`
 * — or a node failing with strategy `abort` — stops every running node and model call at once.
 */
export async function* runGraph(
  graph: CompiledGraph,
  options: {
    input: BotInput;
    signal: AbortSignal;
    runNode: NodeRunner;
    /** Test seam: retry delays are multiplied by this. Default 1. */
    retryDelayScale?: number;
  },
): AsyncGenerator<ExecutionPart> {
  const { input } = options;
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  const outputs = new Map<string, Record<string, unknown>>();
  const edgeStates = new Map<WorkflowEdge, EdgeState>();
  const settled = new Set<string>();
  const running = new Map<string, NodeRunRecord>();
  const total = graph.nodes.size;
  let stepSeq = 0;
  let toolIndex = 0;
  let finishReason: FinishReason = 'stop';
  let fatal: unknown;
  let fatalSet = false;

  const queue: ExecutionPart[] = [];
  let wake: (() => void) | undefined;
  const push = (part: ExecutionPart) => {
    queue.push(part);
    wake?.();
  };
  const progress = () => Math.min(1, settled.size / total);
  const step = (part: Omit<Extract<ExecutionPart, { type: 'step-start' | 'step-end' }>, 'progress'>) => {
    if (graph.reportSteps) push({ ...part, progress: progress() });
  };
  const fail = (error: unknown) => {
    if (fatalSet) return;
    fatalSet = true;
    fatal = error;
    stop.abort();
    wake?.();
  };
  const onAbort = () => wake?.();
  options.signal.addEventListener('abort', onAbort);

  const record = (entry: NodeRunRecord) => input.onNodeRun?.(entry);

  function resolveEdges(nodeId: string, taken: (edge: WorkflowEdge) => boolean) {
    for (const edge of graph.outgoing.get(nodeId) ?? []) edgeStates.set(edge, taken(edge) ? 'taken' : 'dead');
    for (const edge of graph.outgoing.get(nodeId) ?? []) consider(edge.target);
  }

  function consider(nodeId: string) {
    if (settled.has(nodeId) || running.has(nodeId) || fatalSet) return;
    const states = (graph.incoming.get(nodeId) ?? []).map((edge) => edgeStates.get(edge) ?? 'pending');
    if (states.includes('pending')) return;
    if (states.includes('taken') || nodeId === graph.startId) {
      start(nodeId);
      return;
    }
    const node = graph.nodes.get(nodeId) as WorkflowNode;
    settled.add(nodeId);
    const now = Date.now();
    record({
      nodeId,
      nodeType: node.type,
      status: 'skipped',
      attempts: 0,
      startedAt: now,
      finishedAt: now,
      usage: emptyUsage(),
    });
    step({ type: 'step-end', nodeId, nodeType: node.type, stepSeq: stepSeq++, status: 'skipped' });
    resolveEdges(nodeId, () => false);
    wakeIfDone();
  }

  function wakeIfDone() {
    if (settled.size === total) wake?.();
  }

  function start(nodeId: string) {
    const node = graph.nodes.get(nodeId) as WorkflowNode;
    const entry: NodeRunRecord = {
      nodeId,
      nodeType: node.type,
      status: 'running',
      attempts: 0,
      startedAt: Date.now(),
      finishedAt: undefined,
      usage: emptyUsage(),
    };
    running.set(nodeId, entry);
    executeNode(node, entry).then(
      (result) => {
        if (!running.delete(nodeId)) return;
        settled.add(nodeId);
        outputs.set(nodeId, result.output);
        if (result.finishReason && result.finishReason !== 'stop') finishReason = result.finishReason;
        record(entry);
        resolveEdges(nodeId, (edge) =>
          result.failed
            ? edge.sourceHandle === 'fail'
            : node.type === 'condition'
              ? edge.sourceHandle === result.branch
              : edge.sourceHandle !== 'fail',
        );
        wakeIfDone();
      },
      (error: unknown) => {
        if (!running.delete(nodeId)) return;
        entry.finishedAt = Date.now();
        if (entry.status === 'running') entry.status = signal.aborted ? 'cancelled' : 'failed';
        record(entry);
        fail(error);
      },
    );
  }

  async function executeNode(node: WorkflowNode, entry: NodeRunRecord): Promise<NodeResult & { failed?: boolean }> {
    const timeoutMs = node.timeoutMs ?? DEFAULT_TIMEOUT_MS[node.type] ?? FALLBACK_TIMEOUT_MS;
    const nodeStep = (
      type: 'step-start' | 'step-end',
      status: 'running' | 'succeeded' | 'failed',
      attempt: number,
      error?: string,
    ) =>
      step({
        type,
        nodeId: node.id,
        nodeType: node.type,
        stepSeq: stepSeq++,
        status,
        attempt,
        ...(error === undefined ? {} : { error }),
      });
    for (let attempt = 1; ; attempt += 1) {
      entry.attempts = attempt;
      nodeStep('step-start', 'running', attempt);
      let streamed = false;
      const timer = new AbortController();
      const timeout = setTimeout(() => timer.abort(new NodeTimeoutError(node.id, timeoutMs)), timeoutMs);
      const attemptSignal = AbortSignal.any([signal, timer.signal]);
      try {
        const result = await untilAborted(
          options.runNode({
            node,
            outputs,
            input,
            signal: attemptSignal,
            emit(part) {
              if (attemptSignal.aborted) return;
              if (part.type === 'usage') addUsage(entry.usage, part.usage);
              else streamed = true;
              push(part);
            },
            nextToolIndex: () => toolIndex++,
          }),
          attemptSignal,
        );
        entry.status = 'succeeded';
        entry.finishedAt = Date.now();
        entry.output = result.output;
        settledPreview(node.id);
        nodeStep('step-end', 'succeeded', attempt);
        return result;
      } catch (caught) {
        if (signal.aborted) throw caught; // cancelled, or another node failed the run
        const error = timer.signal.aborted ? (timer.signal.reason as Error) : caught;
        const errorClass = classifyError(error);
        const plan = retryPlanFor(errorClass, node.retry);
        const message = describeError(error);
        const nodeError = toNodeError(error, node);
        entry.error = { code: nodeError.code, message: nodeError.message };
        if (!streamed && attempt <= plan.maxRetries) {
          const delay = Math.round(backoffDelayMs(plan, attempt) * (options.retryDelayScale ?? 1));
          nodeStep(
            'step-end',
            'failed',
            attempt,
            `${message} (${errorClass}; retry ${attempt} of ${plan.maxRetries} in ${delay} ms)`,
          );
          await sleep(delay, undefined, { signal });
          continue;
        }
        entry.status = timer.signal.aborted ? 'timeout' : 'failed';
        entry.finishedAt = Date.now();
        const strategy = node.onError ?? { strategy: 'abort' as const };
        const why =
          streamed && attempt <= plan.maxRetries ? `${message} (not retried: output already streamed)` : message;
        settledPreview(node.id);
        nodeStep('step-end', 'failed', attempt, why);
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

  /** Progress counts a node as done in its own step-end. */
  function settledPreview(nodeId: string) {
    settled.add(nodeId);
  }

  try {
    consider(graph.startId);
    for (;;) {
      while (queue.length > 0) yield queue.shift() as ExecutionPart;
      if (options.signal.aborted) throw options.signal.reason;
      if (fatalSet) throw fatal;
      if (settled.size === total && running.size === 0) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    yield { type: 'finish', finishReason };
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    // Consumer gone, cancelled or failed: stop whatever still runs, and report it as cancelled now
    // (the core stores node runs as soon as this generator ends).
    stop.abort();
    for (const entry of running.values()) {
      entry.status = 'cancelled';
      entry.finishedAt = Date.now();
      record(entry);
    }
    running.clear();
  }
}

function emptyUsage(): Usage {
  return { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
}

function addUsage(total: Usage, more: Usage): void {
  total.promptTokens += more.promptTokens;
  total.completionTokens += more.completionTokens;
  total.totalTokens += more.totalTokens;
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
    appError = new AppError('UPSTREAM_ERROR', `${where}: ${error.message}`, {
      retryable: error.retryable,
      cause: error,
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
