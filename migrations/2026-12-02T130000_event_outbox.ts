import type { Kysely } from 'kysely';

// Frozen once landed. Run and metering events waiting for the event sink (EVENT_SINK_URL): written in
// the same transaction as the run they describe, published in `seq` order by the relay, then marked
// sent (and deleted an hour later). Only written when a sink is configured.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('event_outbox')
    .addColumn('seq', 'integer', (column) => column.primaryKey().autoIncrement())
    .addColumn('id', 'varchar(96)', (column) => column.notNull().unique())
    .addColumn('subject', 'varchar(64)', (column) => column.notNull())
    .addColumn('payload', 'text', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('sent_at', 'bigint')
    .execute();
  await db.schema.createIndex('event_outbox_sent_seq').on('event_outbox').columns(['sent_at', 'seq']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('event_outbox').execute();
}
