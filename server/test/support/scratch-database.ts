import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createDatabase, type DatabaseHandle } from '../../src/store/database.ts';

/** Each run gets an empty database of its own: a temp SQLite file, or a scratch MySQL schema. */
export async function emptyDatabase(databaseUrl: string | undefined): Promise<{
  handle: DatabaseHandle;
  /** Another connection (pool) to the same database, as another process would have; the caller closes it. */
  open(): DatabaseHandle;
  drop(): Promise<void>;
}> {
  if (!databaseUrl) {
    const sqlitePath = path.join(mkdtempSync(path.join(tmpdir(), 'ac-scratch-')), 'db.sqlite');
    const handle = createDatabase({ databaseUrl: undefined, sqlitePath });
    return {
      handle,
      open: () => createDatabase({ databaseUrl: undefined, sqlitePath }),
      drop: () => handle.db.destroy(),
    };
  }
  const name = `astron_scratch_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = createDatabase({ databaseUrl, sqlitePath: '' });
  await sql.raw(`create database ${name}`).execute(admin.db);
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  const handle = createDatabase({ databaseUrl: url.href, sqlitePath: '' });
  return {
    handle,
    open: () => createDatabase({ databaseUrl: url.href, sqlitePath: '' }),
    async drop() {
      await handle.db.destroy();
      await sql.raw(`drop database ${name}`).execute(admin.db);
      await admin.db.destroy();
    },
  };
}
