import type { Kysely } from 'kysely';

// Frozen once landed. A user's conversations, most recently active first (the console's sidebar).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('chats_app_uid_updated').on('chats').columns(['app_id', 'uid', 'updated_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('chats_app_uid_updated').on('chats').execute();
}
