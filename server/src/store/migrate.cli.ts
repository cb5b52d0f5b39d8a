import { loadConfig } from '../config/config.ts';
import { createDatabase } from './database.ts';
import { migrateToLatest } from './migrate.ts';

/* eslint-disable no-console -- a command-line tool reports to its terminal */
const config = loadConfig();
const { db, describe } = createDatabase({ databaseUrl: config.databaseUrl, sqlitePath: config.sqlitePath });
try {
  const applied = await migrateToLatest(db);
  console.log(applied.length > 0 ? `Applied to ${describe}: ${applied.join(', ')}` : `${describe} is up to date.`);
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
