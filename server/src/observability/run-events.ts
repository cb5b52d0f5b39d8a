import type { NodeRunRecord } from '../store/node-run.repository.ts';
import type { OutboxEvent, RunRecord } from '../store/run.repository.ts';

/** Version of the event JSON; consumers check it. */
export const EVENT_VERSION = 1;
export type RunEventType = 'run.started' | 'run.finished' | 'node.finished' | 'usage.recorded';

/**
 * A versioned event, `astron.<type>` on the stream. `id` is derived from the run, so a retried
 * publish carries the same id (JetStream's Nats-Msg-Id de-duplicates it).
 */
function toEvent(
  type: RunEventType,
  id: string,
  run: { appId: string; runId: string },
  time: number,
  data: Record<string, unknown>,
): OutboxEvent {
  const body = {
    id,
    type,
    version: EVENT_VERSION,
    time: new Date(time).toISOString(),
    appId: run.appId,
    runId: run.runId,
    data,
  };
  return { id, subject: `astron.${type}`, payload: JSON.stringify(body), createdAt: time };
}

/** What a run's start knows (the run log's RunHeader has these). */
type RunStart = Pick<
  RunRecord,
  'runId' | 'appId' | 'botId' | 'botVersion' | 'chatId' | 'uid' | 'transport' | 'model' | 'createdAt'
>;

export function runStartedEvent(run: RunStart): OutboxEvent {
  return toEvent('run.started', `${run.runId}.started`, run, run.createdAt, {
    botId: run.botId,
    botVersion: run.botVersion,
    chatId: run.chatId ?? null,
    uid: run.uid,
    transport: run.transport,
    model: run.model,
  });
}

/** The events of a finished run, in order: each node run, the run, its usage record. */
export function runFinishedEvents(record: RunRecord, nodeRuns: NodeRunRecord[]): OutboxEvent[] {
  const now = Date.now();
  const usage = {
    promptTokens: record.usage.promptTokens,
    completionTokens: record.usage.completionTokens,
    totalTokens: record.usage.totalTokens,
  };
  return [
    ...nodeRuns.map((node, index) =>
      toEvent('node.finished', `${record.runId}.node.${index}`, record, node.finishedAt ?? now, {
        nodeId: node.nodeId,
        nodeType: node.nodeType,
        status: node.status,
        attempts: node.attempts,
        durationMs: node.finishedAt === undefined ? null : node.finishedAt - node.startedAt,
        usage: node.usage,
        error: node.error ?? null,
      }),
    ),
    toEvent('run.finished', `${record.runId}.finished`, record, now, {
      botId: record.botId,
      botVersion: record.botVersion,
      chatId: record.chatId ?? null,
      transport: record.transport,
      model: record.model,
      provider: record.provider ?? null,
      status: record.status,
      finishReason: record.finishReason ?? null,
      error: record.error ?? null,
      usage,
      timeToFirstTokenMs: record.timeToFirstTokenMs ?? null,
      durationMs: record.durationMs,
    }),
    toEvent('usage.recorded', `${record.runId}.usage`, record, now, {
      botId: record.botId,
      apiKeyId: record.apiKeyId ?? null,
      model: record.model,
      ...usage,
    }),
  ];
}
