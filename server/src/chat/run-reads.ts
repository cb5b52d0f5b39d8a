import { AppError } from '../errors/app-error.ts';
import type { NodeRunRepository } from '../store/node-run.repository.ts';
import type { RunRepository } from '../store/run.repository.ts';
import { checkLimit } from './conversations.ts';

/** A run and its node runs, for the run's own app only (another app's run id reads as not found). */
export function createRunReads(options: { runs: RunRepository; nodeRuns: NodeRunRepository }) {
  return {
    /** The app's finished runs, newest first; `before` (a run id, the last page's `nextBefore`) pages back. */
    async list(appId: string, page: { limit?: number | undefined; before?: string | undefined }) {
      const { runs, nextBefore } = await options.runs.listRuns({
        appId,
        limit: checkLimit(page.limit),
        before: page.before,
      });
      return {
        runs: runs.map((run) => ({
          runId: run.id,
          botId: run.bot_id,
          botVersion: run.bot_version,
          chatId: run.chat_id,
          uid: run.uid,
          transport: run.transport,
          status: run.status,
          finishReason: run.finish_reason,
          errorCode: run.error_code,
          totalTokens: run.total_tokens,
          timeToFirstTokenMs: run.time_to_first_token_ms,
          durationMs: run.duration_ms,
          created: Math.floor(Number(run.created_at) / 1000),
        })),
        nextBefore,
      };
    },

    async get(appId: string, runId: string) {
      const run = await options.runs.findRun(appId, runId);
      if (!run) throw new AppError('NOT_FOUND', `Run "${runId}" was not found for this app.`, { param: 'run_id' });
      const nodes = await options.nodeRuns.listNodeRuns(appId, runId);
      return {
        runId: run.id,
        botId: run.bot_id,
        botVersion: run.bot_version,
        chatId: run.chat_id,
        status: run.status,
        model: run.model,
        /** Which provider(s) answered, comma-separated; null when no model answered. */
        provider: run.provider,
        finishReason: run.finish_reason,
        error: run.error_code === null ? null : { code: run.error_code, message: run.error_message ?? '' },
        usage: {
          promptTokens: run.prompt_tokens,
          completionTokens: run.completion_tokens,
          totalTokens: run.total_tokens,
          cachedPromptTokens: run.cached_tokens,
          /** Counted here with a tokenizer: the upstream reported no usage. */
          estimated: run.usage_estimated === 1,
        },
        /** Every tool call of the run; those the server ran itself carry their `result`. */
        toolCalls: run.tool_calls === null ? [] : (JSON.parse(run.tool_calls) as unknown[]),
        durationMs: run.duration_ms,
        created: Math.floor(Number(run.created_at) / 1000),
        nodes: nodes.map((node) => ({
          ...node,
          output: node.output === null ? null : (JSON.parse(node.output) as unknown),
        })),
      };
    },
  };
}
export type RunReads = ReturnType<typeof createRunReads>;
