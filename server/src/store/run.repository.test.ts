import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../../test/support/backends.ts';
import { emptyDatabase } from '../../test/support/scratch-database.ts';
import { migrateToLatest } from './migrate.ts';
import { createRunRepository, type RunRecord } from './run.repository.ts';

function runRecord(runId: string, outcome: Partial<RunRecord> = {}): RunRecord {
  return {
    runId,
    appId: 'app_1',
    botId: 'bot_1',
    botVersion: 1,
    chatId: undefined,
    uid: 'user_1',
    apiKeyId: undefined,
    transport: 'openai',
    model: 'gpt-test',
    status: 'succeeded',
    finishReason: 'stop',
    error: undefined,
    usage: { promptTokens: 3, completionTokens: 5, totalTokens: 8 },
    timeToFirstTokenMs: 12,
    durationMs: 40,
    caller: undefined,
    callerSid: undefined,
    createdAt: Date.parse('2026-12-02T10:00:00Z'),
    question: 'hi',
    answer: { content: 'hello', reasoning: '', toolCalls: [] },
    provider: 'openai',
    ...outcome,
  };
}

// The run row's INSERT and its outcome's UPDATE are compiled once per database (precompiled.ts):
// these pin that every run still gets its own values, on each dialect.
describe.each(testBackends())('run records on $name', (backend) => {
  let database: Awaited<ReturnType<typeof emptyDatabase>>;
  let runs: ReturnType<typeof createRunRepository>;
  beforeAll(async () => {
    database = await emptyDatabase(backend.databaseUrl);
    await migrateToLatest(database.handle.db);
    runs = createRunRepository(database.handle.db, database.handle.kind);
  });
  afterAll(() => database.drop());

  it('writes each run its own start and outcome, and a closed run keeps its first outcome', async () => {
    await runs.recordRunStart(runRecord('run_a'));
    await runs.recordRunStart(runRecord('run_b', { appId: 'app_2', uid: 'user_2', model: 'other-model' }));
    expect(await runs.findRun('app_1', 'run_a')).toMatchObject({
      status: 'running',
      finished_at: null,
      model: 'gpt-test',
    });

    await runs.recordRun(
      runRecord('run_a', { status: 'failed', finishReason: undefined, error: { code: 1009, message: 'upstream' } }),
    );
    await runs.recordRun(runRecord('run_b', { appId: 'app_2', uid: 'user_2', model: 'other-model', durationMs: 77 }));
    // Another outcome for a run closed already changes nothing.
    await runs.recordRun(runRecord('run_a', { status: 'succeeded', durationMs: 999 }));

    expect(await runs.findRun('app_1', 'run_a')).toMatchObject({
      status: 'failed',
      finish_reason: null,
      error_code: 1009,
      error_message: 'upstream',
      duration_ms: 40,
      total_tokens: 8,
    });
    expect(await runs.findRun('app_2', 'run_b')).toMatchObject({
      app_id: 'app_2',
      uid: 'user_2',
      model: 'other-model',
      status: 'succeeded',
      duration_ms: 77,
    });
    // The outcome's UPDATE is scoped to the run's app: the same id under another app is not touched.
    expect(await runs.findRun('app_2', 'run_a')).toBeUndefined();
  });

  it('writes the start of a run that never recorded one, then its outcome', async () => {
    await runs.recordRun(runRecord('run_c', { durationMs: 5 }));
    expect(await runs.findRun('app_1', 'run_c')).toMatchObject({ status: 'succeeded', duration_ms: 5, uid: 'user_1' });
  });
});
