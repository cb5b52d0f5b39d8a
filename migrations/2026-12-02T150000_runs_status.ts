import type { Kysely } from 'kysely';

// Frozen once landed. Runs still `running`, oldest first: every instance looks for those a dead
// process left behind, at start-up and then periodically (server/src/runs/interrupted-runs.ts).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('runs_status_created').on('runs').columns(['status', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('runs_status_created').on('runs').execute();
}
