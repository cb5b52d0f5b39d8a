import { sql, type Kysely } from 'kysely';

// Frozen once landed. Usage you can bill: whether a run's usage was estimated here (the upstream
// reported none) and the cached prompt tokens, summed apart; the tool calls a run made, readable on
// the run; and the content parts (images, audio, files) of a stored user message.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('runs')
    .addColumn('usage_estimated', 'integer', (column) => column.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('runs')
    .addColumn('cached_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('runs')
    .addColumn('tool_calls', sql`longtext`)
    .execute();
  await db.schema
    .alterTable('messages')
    .addColumn('parts', sql`longtext`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('parts').execute();
  await db.schema.alterTable('runs').dropColumn('tool_calls').execute();
  await db.schema.alterTable('runs').dropColumn('cached_tokens').execute();
  await db.schema.alterTable('runs').dropColumn('usage_estimated').execute();
}
