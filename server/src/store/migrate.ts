import { Migrator, type Kysely, type MigrationProvider } from 'kysely';
import { migrations } from '../../../migrations/index.ts';

export const migrationProvider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };

/** Applies pending migrations; refuses a database whose schema is newer than this code. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const message = error instanceof Error ? error.message : JSON.stringify(error);
    if (/corrupted migrations/.test(message)) {
      throw new Error(
        `The database schema is newer than this code (${message}). Run a newer astron-chat or restore the database.`,
      );
    }
    throw new Error(`Migration failed: ${message}`, { cause: error });
  }
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
