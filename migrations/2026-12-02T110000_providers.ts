import { sql, type Kysely } from 'kysely';

// Frozen once landed. Model providers become managed data (an operator adds them at run time), and
// each run records which provider(s) answered it. Secrets are stored sealed (server/src/store/secret-box.ts).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('providers')
    .addColumn('id', 'varchar(64)', (column) => column.primaryKey())
    .addColumn('type', 'varchar(32)', (column) => column.notNull())
    .addColumn('base_url', 'varchar(2048)', (column) => column.notNull())
    .addColumn('api_key', sql`text`)
    .addColumn('api_key_last4', 'varchar(4)')
    // JSON object of header names to values, sealed as a whole (values may be credentials).
    .addColumn('headers', sql`text`)
    .addColumn('header_names', 'varchar(1024)')
    .addColumn('default_model', 'varchar(128)')
    .addColumn('timeout_ms', 'integer')
    .addColumn('connect_timeout_ms', 'integer')
    .addColumn('max_concurrency', 'integer')
    // JSON array of app ids; null means every app.
    .addColumn('allowed_apps', sql`text`)
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .execute();

  // Provider ids that answered the run's model calls, in order, comma-separated.
  await db.schema.alterTable('runs').addColumn('provider', 'varchar(255)').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('runs').dropColumn('provider').execute();
  await db.schema.dropTable('providers').execute();
}
