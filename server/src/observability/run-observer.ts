import type { NodeRunRecord } from '../store/node-run.repository.ts';
import type { RunRecord } from '../store/run.repository.ts';
import type { Metrics } from './metrics.ts';
import { tracing, type RunSpan } from './tracing.ts';

export type BotKind = 'chat' | 'agent' | 'workflow';

/** What the core tells observability about one run; every call is cheap and never throws. */
export type ObservedRun = {
  nodeRun(record: NodeRunRecord): void;
  /** With tracing on: runs a workflow node attempt in its own span (the engine calls it). */
  readonly traceAttempt: RunSpan['traceAttempt'] | undefined;
  /** With tracing on: the execution's parts under the run span (see tracing.ts). */
  readonly bind: RunSpan['bind'] | undefined;
  finish(record: RunRecord): void;
};

/** Metrics and traces of runs, in one place, so the core makes three thin calls per run. */
export function createRunObserver(options: { metrics: Metrics }) {
  return {
    start(run: Parameters<typeof tracing.startRun>[0], kind: BotKind): ObservedRun {
      options.metrics.activeRuns.inc();
      const span = tracing.enabled ? tracing.startRun(run, kind) : undefined;
      return new RunObservation(options.metrics, kind, span);
    },
  };
}
export type RunObserver = ReturnType<typeof createRunObserver>;

/**
 * One run's observation. A class: a run holds this for as long as it streams, and a closure per
 * method was memory every open stream paid.
 */
class RunObservation implements ObservedRun {
  constructor(
    private readonly metrics: Metrics,
    private readonly kind: BotKind,
    private readonly span: RunSpan | undefined,
  ) {}

  get traceAttempt(): RunSpan['traceAttempt'] | undefined {
    return this.span?.traceAttempt;
  }

  get bind(): RunSpan['bind'] | undefined {
    return this.span?.bind;
  }

  nodeRun(record: NodeRunRecord): void {
    if (record.status === 'running' || record.status === 'skipped') return;
    this.metrics.nodeDuration.observe(
      { node_type: record.nodeType, status: record.status },
      ((record.finishedAt ?? Date.now()) - record.startedAt) / 1000,
    );
  }

  finish(record: RunRecord): void {
    const { metrics } = this;
    const { transport } = record;
    metrics.activeRuns.dec();
    this.span?.end(record);
    metrics.runs.inc({ transport, bot: record.botId, status: record.status, code: record.error?.code ?? 0 });
    metrics.runDuration.observe({ transport, kind: this.kind }, record.durationMs / 1000);
    if (record.timeToFirstTokenMs !== undefined)
      metrics.timeToFirstToken.observe({ transport }, record.timeToFirstTokenMs / 1000);
    metrics.tokens.inc({ kind: 'prompt' }, record.usage.promptTokens);
    metrics.tokens.inc({ kind: 'completion' }, record.usage.completionTokens);
  }
}
