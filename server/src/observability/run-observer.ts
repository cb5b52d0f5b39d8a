import type { Logger } from 'pino';
import type { NodeRunRecord } from '../store/node-run.repository.ts';
import type { RunRecord } from '../store/run.repository.ts';
import type { Metrics } from './metrics.ts';
import { tracing, type RunSpan } from './tracing.ts';

export type BotKind = 'chat' | 'agent' | 'workflow';

/** What the core tells observability about one run; every call is cheap and never throws. */
export type ObservedRun = {
  /** The service logger with this run's id on every line. */
  logger: Logger;
  nodeRun(record: NodeRunRecord): void;
  /** With tracing on: runs a workflow node attempt in its own span (the engine calls it). */
  traceAttempt: RunSpan['traceAttempt'] | undefined;
  /** With tracing on: the execution's parts under the run span (see tracing.ts). */
  bind: RunSpan['bind'] | undefined;
  finish(record: RunRecord): void;
};

/** Metrics and logs of runs, in one place, so the core makes three thin calls per run. */
export function createRunObserver(options: { metrics: Metrics; logger: Logger }) {
  const { metrics, logger } = options;
  return {
    start(run: Parameters<typeof tracing.startRun>[0], kind: BotKind): ObservedRun {
      metrics.activeRuns.inc();
      const span = tracing.enabled ? tracing.startRun(run, kind) : undefined;
      return {
        traceAttempt: span?.traceAttempt,
        bind: span?.bind,
        logger: logger.child({ runId: run.runId }),
        nodeRun(record) {
          if (record.status === 'running' || record.status === 'skipped') return;
          metrics.nodeDuration.observe(
            { node_type: record.nodeType, status: record.status },
            ((record.finishedAt ?? Date.now()) - record.startedAt) / 1000,
          );
        },
        finish(record) {
          const { transport } = record;
          metrics.activeRuns.dec();
          span?.end(record);
          metrics.runs.inc({ transport, bot: record.botId, status: record.status, code: record.error?.code ?? 0 });
          metrics.runDuration.observe({ transport, kind }, record.durationMs / 1000);
          if (record.timeToFirstTokenMs !== undefined)
            metrics.timeToFirstToken.observe({ transport }, record.timeToFirstTokenMs / 1000);
          metrics.tokens.inc({ kind: 'prompt' }, record.usage.promptTokens);
          metrics.tokens.inc({ kind: 'completion' }, record.usage.completionTokens);
        },
      };
    },
  };
}
export type RunObserver = ReturnType<typeof createRunObserver>;
