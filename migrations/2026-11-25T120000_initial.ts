import { sql, type Kysely } from 'kysely';

// Frozen once landed: change the schema with a new file, never by editing this one.
// Timestamps are epoch milliseconds (bigint) so SQLite and MySQL read them the same way.
// `longtext` gives MySQL room for long answers; SQLite reads it as TEXT.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('apps')
    .addColumn('id', 'varchar(64)', (column) => column.primaryKey())
    .addColumn('name', 'varchar(128)', (column) => column.notNull())
    .addColumn('status', 'varchar(16)', (column) => column.notNull().defaultTo('active'))
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'varchar(40)', (column) => column.primaryKey())
    .addColumn('app_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('name', 'varchar(128)', (column) => column.notNull())
    .addColumn('key_hash', 'char(64)', (column) => column.notNull().unique())
    .addColumn('key_prefix', 'varchar(16)', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('api_keys_app_id').on('api_keys').column('app_id').execute();

  await db.schema
    .createTable('app_secrets')
    .addColumn('id', 'varchar(40)', (column) => column.primaryKey())
    .addColumn('app_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('secret', 'varchar(128)', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('app_secrets_app_id').on('app_secrets').column('app_id').execute();

  await db.schema
    .createTable('bots')
    .addColumn('app_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('id', 'varchar(64)', (column) => column.notNull())
    .addColumn('name', 'varchar(128)', (column) => column.notNull())
    .addColumn('current_version', 'integer', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addPrimaryKeyConstraint('bots_pk', ['app_id', 'id'])
    .execute();

  await db.schema
    .createTable('bot_versions')
    .addColumn('app_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('bot_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('version', 'integer', (column) => column.notNull())
    .addColumn('definition', sql`longtext`, (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addPrimaryKeyConstraint('bot_versions_pk', ['app_id', 'bot_id', 'version'])
    .execute();

  await db.schema
    .createTable('chats')
    .addColumn('app_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('id', 'varchar(128)', (column) => column.notNull())
    .addColumn('bot_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('uid', 'varchar(64)', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addPrimaryKeyConstraint('chats_pk', ['app_id', 'id'])
    .execute();

  await db.schema
    .createTable('messages')
    .addColumn('id', 'varchar(40)', (column) => column.primaryKey())
    .addColumn('app_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('chat_id', 'varchar(128)', (column) => column.notNull())
    .addColumn('run_id', 'varchar(40)', (column) => column.notNull())
    .addColumn('role', 'varchar(16)', (column) => column.notNull())
    .addColumn('content', sql`longtext`, (column) => column.notNull())
    .addColumn('reasoning', sql`longtext`)
    .addColumn('tool_calls', sql`longtext`)
    .addColumn('status', 'varchar(16)', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('messages_chat').on('messages').columns(['app_id', 'chat_id', 'id']).execute();

  await db.schema
    .createTable('runs')
    .addColumn('id', 'varchar(40)', (column) => column.primaryKey())
    .addColumn('app_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('bot_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('bot_version', 'integer', (column) => column.notNull())
    .addColumn('chat_id', 'varchar(128)')
    .addColumn('uid', 'varchar(64)', (column) => column.notNull())
    .addColumn('api_key_id', 'varchar(40)')
    .addColumn('transport', 'varchar(16)', (column) => column.notNull())
    .addColumn('model', 'varchar(128)', (column) => column.notNull())
    .addColumn('status', 'varchar(16)', (column) => column.notNull())
    .addColumn('finish_reason', 'varchar(32)')
    .addColumn('error_code', 'integer')
    .addColumn('error_message', 'varchar(512)')
    .addColumn('prompt_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('completion_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('total_tokens', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('time_to_first_token_ms', 'integer')
    .addColumn('duration_ms', 'integer')
    .addColumn('caller', 'varchar(128)')
    .addColumn('caller_sid', 'varchar(128)')
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('runs_app_created').on('runs').columns(['app_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['runs', 'messages', 'chats', 'bot_versions', 'bots', 'app_secrets', 'api_keys', 'apps']) {
    await db.schema.dropTable(table).execute();
  }
}
