import {
  botDefinitionSchema,
  checkBotDefinition,
  type BotDefinition,
  type BotDefinitionInput,
} from '@astron-chat/shared';
import { sql } from 'kysely';
import { AppError } from '../errors/app-error.ts';
import type { BotTable, BotVersionTable, Database } from './database.ts';

export type BotRecord = { appId: string; botId: string; name: string; version: number; definition: BotDefinition };

export function createBotRepository(db: Database) {
  /** Each bot with its current version's definition. */
  const currentVersions = () =>
    db
      .selectFrom('bots')
      .innerJoin('bot_versions', (join) =>
        join
          .onRef('bot_versions.app_id', '=', 'bots.app_id')
          .onRef('bot_versions.bot_id', '=', 'bots.id')
          .onRef('bot_versions.version', '=', 'bots.current_version'),
      )
      .select(['bots.app_id', 'bots.id', 'bots.name', 'bots.current_version', 'bot_versions.definition']);
  const toRecord = (
    row: Pick<BotTable, 'app_id' | 'id' | 'name' | 'current_version'> & Pick<BotVersionTable, 'definition'>,
  ): BotRecord => ({
    appId: row.app_id,
    botId: row.id,
    name: row.name,
    version: row.current_version,
    definition: botDefinitionSchema.parse(JSON.parse(row.definition)),
  });

  return {
    /** The bot's current version, only if it belongs to `appId`. */
    async findBot(appId: string, botId: string): Promise<BotRecord | undefined> {
      const row = await currentVersions()
        .where('bots.app_id', '=', appId)
        .where('bots.id', '=', botId)
        .executeTakeFirst();
      return row && toRecord(row);
    },

    async listBots(appId: string) {
      return db
        .selectFrom('bots')
        .select(['id', 'name', 'current_version', 'created_at'])
        .where('app_id', '=', appId)
        .orderBy('id')
        .execute();
    },

    /**
     * The current version of every bot, of every app, whose definition holds `text` (a cheap
     * prefilter in SQL: callers parse the definitions and check what they look for).
     */
    async listCurrentContaining(text: string): Promise<BotRecord[]> {
      // `!` escapes: a backslash means different things in MySQL and SQLite string literals.
      const pattern = `%${text.replace(/[!%_]/g, (character) => `!${character}`)}%`;
      const rows = await currentVersions()
        .where(sql<boolean>`${sql.ref('bot_versions.definition')} like ${pattern} escape '!'`)
        .orderBy('bots.app_id')
        .orderBy('bots.id')
        .execute();
      return rows.map(toRecord);
    },

    async listVersions(appId: string, botId: string) {
      return db
        .selectFrom('bot_versions')
        .select(['version', 'created_at'])
        .where('app_id', '=', appId)
        .where('bot_id', '=', botId)
        .orderBy('version')
        .execute();
    },

    /** Deletes the bot and its versions; runs and chats keep their records. Returns whether it existed. */
    async deleteBot(appId: string, botId: string): Promise<boolean> {
      return db.transaction().execute(async (transaction) => {
        await transaction.deleteFrom('bot_versions').where('app_id', '=', appId).where('bot_id', '=', botId).execute();
        const result = await transaction
          .deleteFrom('bots')
          .where('app_id', '=', appId)
          .where('id', '=', botId)
          .executeTakeFirst();
        return result.numDeletedRows > 0n;
      });
    },

    /** Creates the bot or adds an immutable new version of it; returns that version. */
    /**
     * A bot's first version, only if the bot is absent (insert-or-ignore): several processes may
     * run this at once, and a bot edited since keeps its edits.
     */
    async ensureBot(input: {
      appId: string;
      botId: string;
      name: string;
      definition: BotDefinition | BotDefinitionInput;
    }): Promise<void> {
      const checked = checkBotDefinition(input.definition);
      if (!checked.success) throw new AppError('VALIDATION_ERROR', `definition: ${checked.message}`);
      const now = Date.now();
      await db.transaction().execute(async (transaction) => {
        await transaction
          .insertInto('bot_versions')
          .values({
            app_id: input.appId,
            bot_id: input.botId,
            version: 1,
            definition: JSON.stringify(checked.data),
            created_at: now,
          })
          .orIgnore()
          .execute();
        await transaction
          .insertInto('bots')
          .values({
            app_id: input.appId,
            id: input.botId,
            name: input.name,
            current_version: 1,
            created_at: now,
            updated_at: now,
          })
          .orIgnore()
          .execute();
      });
    },

    async saveBot(input: {
      appId: string;
      botId: string;
      name: string;
      definition: BotDefinition | BotDefinitionInput;
    }): Promise<number> {
      // Graphs and variable references are checked here, so no caller can store a broken bot.
      const checked = checkBotDefinition(input.definition);
      if (!checked.success) {
        const param = checked.path ? `definition.${checked.path}` : 'definition';
        throw new AppError('VALIDATION_ERROR', `${param}: ${checked.message}`, { param });
      }
      const definition = checked.data;
      return db.transaction().execute(async (transaction) => {
        const now = Date.now();
        const existing = await transaction
          .selectFrom('bots')
          .select('current_version')
          .where('app_id', '=', input.appId)
          .where('id', '=', input.botId)
          .executeTakeFirst();
        const version = (existing?.current_version ?? 0) + 1;
        await transaction
          .insertInto('bot_versions')
          .values({
            app_id: input.appId,
            bot_id: input.botId,
            version,
            definition: JSON.stringify(definition),
            created_at: now,
          })
          .execute();
        if (existing) {
          await transaction
            .updateTable('bots')
            .set({ name: input.name, current_version: version, updated_at: now })
            .where('app_id', '=', input.appId)
            .where('id', '=', input.botId)
            .execute();
        } else {
          await transaction
            .insertInto('bots')
            .values({
              app_id: input.appId,
              id: input.botId,
              name: input.name,
              current_version: version,
              created_at: now,
              updated_at: now,
            })
            .execute();
        }
        return version;
      });
    },
  };
}
export type BotRepository = ReturnType<typeof createBotRepository>;
