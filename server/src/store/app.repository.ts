import { createHash, randomBytes } from 'node:crypto';
import { createId } from '../lib/ids.ts';
import type { Database } from './database.ts';
import type { SecretBox } from './secret-box.ts';

export type ApiKeyOwner = { keyId: string; appId: string; appStatus: 'active' | 'disabled' };

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * Apps, their API keys (hashes only) and signing secrets. Secrets are sealed with `secrets` when the
 * server has a key (SECRETS_KEY, or the demo's); without one they are stored as before, in clear.
 */
export function createAppRepository(db: Database, secrets?: SecretBox) {
  const canSeal = secrets?.source !== undefined;
  return {
    async findApp(appId: string) {
      return db.selectFrom('apps').selectAll().where('id', '=', appId).executeTakeFirst();
    },

    async createApp(input: { id: string; name: string }) {
      await db
        .insertInto('apps')
        .values({ id: input.id, name: input.name, status: 'active', created_at: Date.now() })
        .execute();
    },

    /**
     * An app with one given key and secret, each written only if absent (insert-or-ignore, fixed
     * ids): several processes may run this at once, and none fails or duplicates a row.
     */
    async ensureApp(input: {
      id: string;
      name: string;
      key: { id: string; name: string; key: string };
      secret: { id: string; secret: string };
    }) {
      const now = Date.now();
      await db
        .insertInto('apps')
        .values({ id: input.id, name: input.name, status: 'active', created_at: now })
        .orIgnore()
        .execute();
      await db
        .insertInto('api_keys')
        .values({
          id: input.key.id,
          app_id: input.id,
          name: input.key.name,
          key_hash: hashApiKey(input.key.key),
          key_prefix: input.key.key.slice(0, 6),
          created_at: now,
          revoked_at: null,
        })
        .orIgnore()
        .execute();
      await db
        .insertInto('app_secrets')
        .values({
          id: input.secret.id,
          app_id: input.id,
          secret: canSeal && secrets ? secrets.seal(input.secret.secret) : input.secret.secret,
          created_at: now,
          revoked_at: null,
        })
        .orIgnore()
        .execute();
    },

    /** Stores only the hash; `key` is given (demo, tests) or generated and returned once. */
    async createApiKey(input: { appId: string; name: string; key?: string }) {
      const key = input.key ?? `sk-${randomBytes(24).toString('base64url')}`;
      const id = createId('key');
      await db
        .insertInto('api_keys')
        .values({
          id,
          app_id: input.appId,
          name: input.name,
          key_hash: hashApiKey(key),
          key_prefix: key.slice(0, 6),
          created_at: Date.now(),
          revoked_at: null,
        })
        .execute();
      return { id, key };
    },

    async listApps() {
      return db.selectFrom('apps').selectAll().orderBy('id').execute();
    },

    /** Returns whether the app existed. */
    async setAppStatus(appId: string, status: 'active' | 'disabled'): Promise<boolean> {
      const result = await db.updateTable('apps').set({ status }).where('id', '=', appId).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    /** Deletes the app and everything it owns, in one transaction. Returns whether it existed. */
    async deleteApp(appId: string): Promise<boolean> {
      return db.transaction().execute(async (transaction) => {
        for (const table of ['runs', 'messages', 'chats', 'bot_versions', 'bots', 'app_secrets', 'api_keys'] as const) {
          await transaction.deleteFrom(table).where('app_id', '=', appId).execute();
        }
        const result = await transaction.deleteFrom('apps').where('id', '=', appId).executeTakeFirst();
        return result.numDeletedRows > 0n;
      });
    },

    async listKeys(appId: string) {
      return db
        .selectFrom('api_keys')
        .select(['id', 'name', 'key_prefix', 'created_at', 'revoked_at'])
        .where('app_id', '=', appId)
        .orderBy('id')
        .execute();
    },

    /** Returns whether an active key of this app was revoked. */
    async revokeKey(appId: string, keyId: string): Promise<boolean> {
      const result = await db
        .updateTable('api_keys')
        .set({ revoked_at: Date.now() })
        .where('app_id', '=', appId)
        .where('id', '=', keyId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async listSecrets(appId: string) {
      return db
        .selectFrom('app_secrets')
        .select(['id', 'created_at', 'revoked_at'])
        .where('app_id', '=', appId)
        .orderBy('id')
        .execute();
    },

    async revokeSecret(appId: string, secretId: string): Promise<boolean> {
      const result = await db
        .updateTable('app_secrets')
        .set({ revoked_at: Date.now() })
        .where('app_id', '=', appId)
        .where('id', '=', secretId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    /** Hashes of the app's keys, to drop their cached owners after a change. */
    async listKeyHashes(appId: string, keyId?: string): Promise<string[]> {
      let query = db.selectFrom('api_keys').select('key_hash').where('app_id', '=', appId);
      if (keyId) query = query.where('id', '=', keyId);
      return (await query.execute()).map((row) => row.key_hash);
    },

    async findKeyOwner(keyHash: string): Promise<ApiKeyOwner | undefined> {
      const row = await db
        .selectFrom('api_keys')
        .innerJoin('apps', 'apps.id', 'api_keys.app_id')
        .select(['api_keys.id as keyId', 'api_keys.app_id as appId', 'apps.status as appStatus'])
        .where('api_keys.key_hash', '=', keyHash)
        .where('api_keys.revoked_at', 'is', null)
        .executeTakeFirst();
      return row;
    },

    async createSecret(input: { appId: string; secret?: string }) {
      const secret = input.secret ?? randomBytes(24).toString('base64url');
      const id = createId('sec');
      const stored = canSeal && secrets ? secrets.seal(secret) : secret;
      await db
        .insertInto('app_secrets')
        .values({ id, app_id: input.appId, secret: stored, created_at: Date.now(), revoked_at: null })
        .execute();
      return { id, secret };
    },

    /** Seals secrets stored in clear (before encryption); returns how many. Safe to run on many instances at once. */
    async sealClearSecrets(): Promise<number> {
      if (!canSeal || !secrets) return 0;
      const rows = await db
        .selectFrom('app_secrets')
        .select(['id', 'secret'])
        .where('secret', 'not like', 'enc:%')
        .execute();
      for (const row of rows) {
        await db
          .updateTable('app_secrets')
          .set({ secret: secrets.seal(row.secret) })
          .where('id', '=', row.id)
          .where('secret', '=', row.secret)
          .execute();
      }
      return rows.length;
    },

    /** Active signing secrets of an app (several during a rotation); none when the app is disabled. */
    async findSecrets(appId: string): Promise<Array<{ id: string; secret: string }>> {
      const rows = await db
        .selectFrom('app_secrets')
        .innerJoin('apps', 'apps.id', 'app_secrets.app_id')
        .select(['app_secrets.id', 'app_secrets.secret'])
        .where('app_secrets.app_id', '=', appId)
        .where('app_secrets.revoked_at', 'is', null)
        .where('apps.status', '=', 'active')
        .execute();
      // A secret sealed with another key cannot sign anything here; the others still do.
      return rows.flatMap((row) => {
        try {
          return [{ id: row.id, secret: secrets ? secrets.open(row.secret) : row.secret }];
        } catch {
          return [];
        }
      });
    },
  };
}
export type AppRepository = ReturnType<typeof createAppRepository>;
