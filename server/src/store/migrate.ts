import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../migrations/', import.meta.url));

/** Loads every `migrations/*.ts` file; names are timestamps, so name order is apply order. */
export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    const files = (await readdir(MIGRATIONS_FOLDER)).filter((file) => /^\d.*\.ts$/.test(file)).sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      migrations[file.replace(/\.ts$/, '')] = (await import(pathToFileURL(MIGRATIONS_FOLDER + file).href)) as Migration;
    }
    return migrations;
  },
};

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
