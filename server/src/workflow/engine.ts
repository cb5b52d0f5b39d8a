import type { FinishReason, WorkflowEdge, WorkflowNode } from '@astron-chat/shared';
import { zeroUsage } from '../lib/usage.ts';
import type { BotInput, ExecutionPart, NodeRunReport } from './execution.ts';
import type { CompiledGraph, NodeRunner } from './graph.ts';
import { runNodeAttempts, type AttemptHost } from './node-attempts.ts';

type EdgeState = 'pending' | 'taken' | 'dead';
type StepPart = Extract<ExecutionPart, { type: 'step-start' | 'step-end' }>;

/**
 * Runs a graph. Every node whose inputs are settled starts at once, so independent branches run in
 * parallel; a join waits for all its incoming edges and runs if any of them was taken (else it is
 * skipped, and so is everything only it leads to). Parts reach the caller as nodes produce them.
 * This is the scheduler only: how one node is attempted (timeout, retry by error class, error
 * strategy) is `runNodeAttempts`. Aborting `signal` — or a node failing with strategy `abort` —
 * stops every running node and model call at once.
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
  const running = new Map<string, NodeRunReport>();
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
  const step = (part: Omit<StepPart, 'progress'>) => {
    if (graph.reportSteps) push(Object.assign({}, part, { progress: progress() }));
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

  const record = (entry: NodeRunReport) => input.onNodeRun?.(entry);

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
      usage: zeroUsage(),
    });
    // A pair, like every node's: a client tracking open steps sees each it is told of opened and closed.
    step({ type: 'step-start', nodeId, nodeType: node.type, stepSeq: stepSeq++, status: 'skipped' });
    step({ type: 'step-end', nodeId, nodeType: node.type, stepSeq: stepSeq++, status: 'skipped' });
    resolveEdges(nodeId, () => false);
    wakeIfDone();
  }

  function wakeIfDone() {
    if (settled.size === total) wake?.();
  }

  function attemptHost(node: WorkflowNode): AttemptHost {
    return {
      signal,
      outputs,
      input,
      runNode: options.runNode,
      retryDelayScale: options.retryDelayScale ?? 1,
      emit: push,
      nextToolIndex: () => toolIndex++,
      step(type, status, attempt, error, last) {
        // Progress counts a node as done in its own last step-end.
        if (last) settled.add(node.id);
        step({
          type,
          nodeId: node.id,
          nodeType: node.type,
          stepSeq: stepSeq++,
          status,
          attempt,
          ...(error === undefined ? {} : { error }),
        });
      },
    };
  }

  function start(nodeId: string) {
    const node = graph.nodes.get(nodeId) as WorkflowNode;
    const entry: NodeRunReport = {
      nodeId,
      nodeType: node.type,
      status: 'running',
      attempts: 0,
      startedAt: Date.now(),
      finishedAt: undefined,
      usage: zeroUsage(),
    };
    running.set(nodeId, entry);
    runNodeAttempts(node, entry, attemptHost(node)).then(
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
