import type { Kysely } from 'kysely';

// Frozen once landed. Adds the UTC day of each run so usage sums group portably on SQLite and MySQL.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('runs').addColumn('day', 'varchar(10)').execute();
  // Backfill in batches, computing the day in JavaScript: no dialect-specific date functions.
  for (;;) {
    const rows = (await db
      .selectFrom('runs')
      .select(['id', 'created_at'])
      .where('day', 'is', null)
      .limit(1000)
      .execute()) as Array<{
      id: string;
      created_at: number | string;
    }>;
    if (rows.length === 0) break;
    for (const row of rows) {
      const day = new Date(Number(row.created_at)).toISOString().slice(0, 10);
      await db.updateTable('runs').set({ day }).where('id', '=', row.id).execute();
    }
  }
  await db.schema.createIndex('runs_app_day').on('runs').columns(['app_id', 'day']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('runs_app_day').on('runs').execute();
  await db.schema.alterTable('runs').dropColumn('day').execute();
}
