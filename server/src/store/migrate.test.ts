import { readdirSync } from 'node:fs';
import { Migrator } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../../test/support/backends.ts';
import { emptyDatabase } from '../../test/support/scratch-database.ts';
import { migrateToLatest, migrationProvider } from './migrate.ts';

it('lists every migration file in migrations/index.ts, so none is left out of the built server', async () => {
  const files = readdirSync(new URL('../../../migrations/', import.meta.url))
    .filter((file) => /^\d.*\.ts$/.test(file))
    .map((file) => file.replace(/\.ts$/, ''));
  expect(Object.keys(await migrationProvider.getMigrations()).sort()).toEqual(files.sort());
});

describe.each(testBackends())('migrations on $name', (backend) => {
  let database: Awaited<ReturnType<typeof emptyDatabase>>;
  beforeAll(async () => {
    database = await emptyDatabase(backend.databaseUrl);
  });
  afterAll(() => database.drop());

  it('upgrade a database at the previous schema, keeping and backfilling its rows', async () => {
    const { db } = database.handle;
    const migrator = new Migrator({ db, provider: migrationProvider });
    const first = await migrator.migrateTo('2026-11-25T120000_initial');
    expect(first.error).toBeUndefined();
    const createdAt = Date.parse('2026-01-02T03:04:05Z');
    await db
      .insertInto('runs')
      .values({
        id: 'run_old',
        app_id: 'a',
        bot_id: 'b',
        bot_version: 1,
        chat_id: null,
        uid: 'u',
        api_key_id: null,
        transport: 'astron',
        model: 'm',
        status: 'succeeded',
        finish_reason: 'stop',
        error_code: null,
        error_message: null,
        time_to_first_token_ms: null,
        duration_ms: 1,
        caller: null,
        caller_sid: null,
        created_at: createdAt,
        finished_at: createdAt,
      } as never)
      .execute();

    const applied = await migrateToLatest(db);
    expect(applied).toContain('2026-11-25T150000_run_day');
    const run = await db.selectFrom('runs').select(['id', 'day']).where('id', '=', 'run_old').executeTakeFirstOrThrow();
    expect(run.day).toBe('2026-01-02');
    expect(await migrateToLatest(db)).toEqual([]);
  });

  it('refuse a database whose schema is newer than this code', async () => {
    const { db } = database.handle;
    await db
      .insertInto('kysely_migration' as never)
      .values({ name: '2099-01-01T000000_from_the_future', timestamp: new Date().toISOString() })
      .execute();
    await expect(migrateToLatest(db)).rejects.toThrow(/newer than this code/);
  });
});
