import { createAppRepository } from '../../src/store/app.repository.ts';
import { createBotRepository } from '../../src/store/bot.repository.ts';
import { createDatabase } from '../../src/store/database.ts';
import { seedDemo } from '../../src/store/demo-seed.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';

/** Migrates and seeds the shared MySQL database once, so parallel test files never race on it. */
export default async function setup() {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) return;
  const { db } = createDatabase({ databaseUrl, sqlitePath: '' });
  try {
    await migrateToLatest(db);
    await seedDemo({ apps: createAppRepository(db), bots: createBotRepository(db), withUpstreamBot: false });
  } finally {
    await db.destroy();
  }
}
