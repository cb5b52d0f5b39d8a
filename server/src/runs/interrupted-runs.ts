import type { Logger } from 'pino';
import type { RunHeader, RunLog } from '../run-log/run-log.ts';
import type { RunRepository } from '../store/run.repository.ts';
import type { RunManager } from './run-manager.ts';

/** Rows looked at per start-up, and closed at once. */
const PAGE = 500;
const CONCURRENCY = 16;

/**
 * At start-up: runs left `running` by a process that died (SIGKILL, crash, power) are closed as
 * failed — interrupted, code 1006, retryable — with whatever answer the run log still holds.
 *
 * Which runs are dead: with the embedded in-process run log, every one (nothing survives its
 * process, and the embedded database has one process). With the Redis run log, shared by several
 * instances, only a run whose owner heartbeat has stopped; a run with no owner record at all (a
 * run not started through the run manager) only once it is older than the run timeout, as none can
 * be alive after that.
 */
export async function closeInterruptedRuns(options: {
  runs: RunRepository;
  runLog: RunLog;
  manager: RunManager;
  logger: Logger;
  /** RUN_TIMEOUT_SECONDS in ms. */
  runTimeoutMs: number;
  signal?: AbortSignal;
}): Promise<number> {
  const { runs, runLog, manager, logger } = options;
  const signal = options.signal ?? new AbortController().signal;
  const rows = await runs.listRunning(PAGE);
  const oldest = Date.now() - options.runTimeoutMs - 60_000;
  const candidates: RunHeader[] = [];
  for (const row of rows) {
    const run: RunHeader = {
      runId: row.id,
      appId: row.app_id,
      botId: row.bot_id,
      botVersion: row.bot_version,
      chatId: row.chat_id ?? undefined,
      uid: row.uid,
      apiKeyId: row.api_key_id ?? undefined,
      transport: row.transport,
      model: row.model,
      caller: row.caller ?? undefined,
      callerSid: row.caller_sid ?? undefined,
      createdAt: Number(row.created_at),
      // The user's message was written with the run's start; the record only updates the row.
      question: '',
    };
    if (runLog.kind === 'redis' && run.createdAt > oldest && (await runLog.owner(run.runId)) === undefined) continue;
    candidates.push(run);
  }
  let closed = 0;
  for (let index = 0; index < candidates.length; index += CONCURRENCY) {
    const results = await Promise.all(
      candidates.slice(index, index + CONCURRENCY).map((run) =>
        manager.closeInterrupted(run, signal).catch((error: unknown) => {
          logger.error({ err: error, runId: run.runId }, 'could not close an interrupted run');
          return false;
        }),
      ),
    );
    closed += results.filter(Boolean).length;
  }
  if (closed > 0) logger.warn({ closed }, 'closed runs interrupted by a stopped process');
  return closed;
}

/** How often a running instance looks for runs a dead one left (Redis run log only). */
const SWEEP_MS = 10_000;

/**
 * With the Redis run log, instances stay up while another dies: each looks again every SWEEP_MS,
 * so a dead instance's runs are closed without waiting for a restart or a follower (the `lost:`
 * reservation in `closeInterrupted` lets one instance close each). Returns `stop`.
 */
export function sweepInterruptedRuns(options: Parameters<typeof closeInterruptedRuns>[0]): () => Promise<void> {
  const controller = new AbortController();
  let sweeping: Promise<void> | undefined;
  const timer = setInterval(() => {
    sweeping ??= closeInterruptedRuns({ ...options, signal: controller.signal })
      .then(
        () => undefined,
        (error: unknown) => options.logger.warn({ err: error }, 'could not look for interrupted runs'),
      )
      .finally(() => (sweeping = undefined));
  }, SWEEP_MS).unref();
  return async () => {
    clearInterval(timer);
    controller.abort();
    await sweeping;
  };
}
