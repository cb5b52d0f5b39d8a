import type { Usage } from '@astron-chat/shared';
import { createId } from '../lib/ids.ts';
import type { Database, NodeRunStatus } from './database.ts';

/** One node of one run, as the engine reports it. */
export type NodeRunRecord = {
  nodeId: string;
  nodeType: string;
  status: NodeRunStatus;
  attempts: number;
  startedAt: number;
  finishedAt: number | undefined;
  usage: Usage;
  error?: { code: number; message: string };
  /** How a failure was absorbed: `default` output or `fail-branch`. */
  strategy?: 'default' | 'fail-branch';
  output?: Record<string, unknown>;
};

/** Stored outputs are for inspection; long ones are cut. */
const MAX_STORED_OUTPUT_CHARS = 16_000;

export function createNodeRunRepository(db: Database) {
  return {
    async recordNodeRuns(input: { appId: string; runId: string; nodeRuns: NodeRunRecord[] }): Promise<void> {
      if (input.nodeRuns.length === 0) return;
      await db
        .insertInto('node_runs')
        .values(
          input.nodeRuns.map((nodeRun) => ({
            id: createId('node'),
            app_id: input.appId,
            run_id: input.runId,
            node_id: nodeRun.nodeId,
            node_type: nodeRun.nodeType,
            status: nodeRun.status,
            strategy: nodeRun.strategy ?? null,
            attempts: nodeRun.attempts,
            started_at: nodeRun.startedAt,
            finished_at: nodeRun.finishedAt ?? null,
            duration_ms: nodeRun.finishedAt === undefined ? null : nodeRun.finishedAt - nodeRun.startedAt,
            prompt_tokens: nodeRun.usage.promptTokens,
            completion_tokens: nodeRun.usage.completionTokens,
            total_tokens: nodeRun.usage.totalTokens,
            error_code: nodeRun.error?.code ?? null,
            error_message: nodeRun.error?.message.slice(0, 512) ?? null,
            output:
              nodeRun.output === undefined ? null : JSON.stringify(nodeRun.output).slice(0, MAX_STORED_OUTPUT_CHARS),
          })),
        )
        .execute();
    },

    /** The node runs of a run of this app, in start order. */
    async listNodeRuns(appId: string, runId: string) {
      const rows = await db
        .selectFrom('node_runs')
        .selectAll()
        .where('app_id', '=', appId)
        .where('run_id', '=', runId)
        .orderBy('started_at')
        .orderBy('id')
        .execute();
      return rows.map((row) => ({
        nodeId: row.node_id,
        nodeType: row.node_type,
        status: row.status,
        strategy: row.strategy,
        attempts: row.attempts,
        startedAt: row.started_at,
        finishedAt: row.finished_at,
        durationMs: row.duration_ms,
        usage: {
          promptTokens: row.prompt_tokens,
          completionTokens: row.completion_tokens,
          totalTokens: row.total_tokens,
        },
        error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? '' },
        output: row.output,
      }));
    },
  };
}
export type NodeRunRepository = ReturnType<typeof createNodeRunRepository>;
