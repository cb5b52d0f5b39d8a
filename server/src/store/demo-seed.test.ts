import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../../test/support/backends.ts';
import { emptyDatabase } from '../../test/support/scratch-database.ts';
import { createAppRepository, hashApiKey } from './app.repository.ts';
import { createBotRepository } from './bot.repository.ts';
import type { Database } from './database.ts';
import { DEMO_API_KEY, seedDemo } from './demo-seed.ts';
import { migrateToLatest } from './migrate.ts';

const count = async (db: Database, table: 'apps' | 'api_keys' | 'app_secrets' | 'bots' | 'bot_versions') =>
  Number(
    (
      await db
        .selectFrom(table)
        .select((expression) => expression.fn.countAll<number>().as('count'))
        .executeTakeFirstOrThrow()
    ).count,
  );

describe.each(testBackends())('demo seeding on $name', (backend) => {
  let database: Awaited<ReturnType<typeof emptyDatabase>>;
  beforeAll(async () => {
    database = await emptyDatabase(backend.databaseUrl);
    await migrateToLatest(database.handle.db);
  });
  afterAll(() => database.drop());

  it('is idempotent when several processes seed at once: none fails, no row is written twice', async () => {
    // Each seeder with a connection pool of its own, as separate instances starting together have.
    // (The embedded SQLite file belongs to one process: there, one seeder runs again and again.)
    const seeders = backend.databaseUrl
      ? [database.handle, database.open(), database.open(), database.open()]
      : [database.handle];
    try {
      for (let round = 0; round < 3; round += 1) {
        await Promise.all(
          seeders.map(({ db }) =>
            seedDemo({ apps: createAppRepository(db), bots: createBotRepository(db), withUpstreamBot: true }),
          ),
        );
      }
    } finally {
      for (const seeder of seeders.slice(1)) await seeder.db.destroy();
    }
    const { db } = database.handle;
    expect(await count(db, 'apps')).toBe(1);
    expect(await count(db, 'api_keys')).toBe(1);
    expect(await count(db, 'app_secrets')).toBe(1);
    expect(await count(db, 'bots')).toBe(4);
    expect(await count(db, 'bot_versions')).toBe(4);
    expect(await createAppRepository(db).findKeyOwner(hashApiKey(DEMO_API_KEY))).toMatchObject({
      appId: 'demo-app',
    });
  });

  it('leaves a demo bot edited since as it is', async () => {
    const { db } = database.handle;
    const bots = createBotRepository(db);
    await bots.saveBot({
      appId: 'demo-app',
      botId: 'demo-bot',
      name: 'edited',
      definition: { kind: 'chat', model: { provider: 'demo' } },
    });
    await seedDemo({ apps: createAppRepository(db), bots, withUpstreamBot: false });
    expect(await bots.findBot('demo-app', 'demo-bot')).toMatchObject({ version: 2 });
  });
});
