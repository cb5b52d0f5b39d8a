import { sql, type Kysely } from 'kysely';

// Frozen once landed. One row per workflow node run (SPEC §8): status, attempts, timings, usage, error.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('node_runs')
    .addColumn('id', 'varchar(40)', (column) => column.primaryKey())
    .addColumn('app_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('run_id', 'varchar(40)', (column) => column.notNull())
    .addColumn('node_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('node_type', 'varchar(16)', (column) => column.notNull())
    .addColumn('status', 'varchar(16)', (column) => column.notNull())
    .addColumn('strategy', 'varchar(16)')
    .addColumn('attempts', 'integer', (column) => column.notNull())
    .addColumn('started_at', 'bigint', (column) => column.notNull())
    .addColumn('finished_at', 'bigint')
    .addColumn('duration_ms', 'integer')
    .addColumn('prompt_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('completion_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('total_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('error_code', 'integer')
    .addColumn('error_message', 'varchar(512)')
    .addColumn('output', sql`longtext`)
    .execute();
  await db.schema
    .createIndex('node_runs_app_run')
    .on('node_runs')
    .columns(['app_id', 'run_id', 'started_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('node_runs').execute();
}
