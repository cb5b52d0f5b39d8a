import { botDefinitionSchema } from '@astron-chat/shared';
import { cacheKeys, type Cache } from '../cache/cache.ts';
import { AppError, fromZodError } from '../errors/app-error.ts';
import type { AppRepository } from '../store/app.repository.ts';
import type { BotRepository } from '../store/bot.repository.ts';
import type { ModelRegistry } from '../providers/model-registry.ts';
import type { ProviderRepository } from '../store/provider.repository.ts';
import type { SecretBox } from '../store/secret-box.ts';
import { createProviderService } from './provider.service.ts';

const ID_PATTERN = /^[A-Za-z0-9][\w.-]{0,63}$/;

function checkId(kind: string, id: string, param: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new AppError('VALIDATION_ERROR', `${kind} id "${id}" must be 1–64 letters, digits, "_", "." or "-".`, {
      param,
    });
  }
}

function notFound(what: string): never {
  throw new AppError('NOT_FOUND', `${what} was not found.`);
}

/**
 * Apps, credentials and bots. Secrets and keys are returned once, at creation; reads never include
 * them. Every change to a bot drops its cached copy so the next run sees it.
 */
export function createAdminService(options: {
  apps: AppRepository;
  bots: BotRepository;
  cache: Cache;
  providers: ProviderRepository;
  models: ModelRegistry;
  secrets: SecretBox;
}) {
  const { apps, bots, cache } = options;
  const providerService = createProviderService(options);

  async function requireApp(appId: string) {
    const app = await apps.findApp(appId);
    if (!app) notFound(`App "${appId}"`);
    return app;
  }

  async function requireBot(appId: string, botId: string) {
    await requireApp(appId);
    const bot = await bots.findBot(appId, botId);
    if (!bot) notFound(`Bot "${botId}" of app "${appId}"`);
    return bot;
  }

  function parseDefinition(definition: unknown) {
    const parsed = botDefinitionSchema.safeParse(definition);
    if (!parsed.success) throw fromZodError(parsed.error, 'definition');
    return parsed.data;
  }

  /** Cached credentials of an app (or one key) go stale on every change to them. */
  async function forgetCredentials(appId: string, keyId?: string) {
    const hashes = await apps.listKeyHashes(appId, keyId);
    await cache.delete(
      cacheKeys.app(appId),
      cacheKeys.secretIds(appId),
      ...hashes.map((hash) => cacheKeys.apiKey(hash)),
    );
  }

  return {
    ...providerService,
    /** A new app with its first API key and signing secret, both shown only in this answer. */
    async createApp(input: { id: string; name?: string | undefined }) {
      checkId('App', input.id, 'id');
      if (await apps.findApp(input.id)) {
        throw new AppError('VALIDATION_ERROR', `An app with id "${input.id}" already exists.`, { param: 'id' });
      }
      await apps.createApp({ id: input.id, name: input.name ?? input.id });
      const key = await apps.createApiKey({ appId: input.id, name: 'default' });
      const secret = await apps.createSecret({ appId: input.id });
      return { id: input.id, apiKey: key.key, apiKeyId: key.id, secret: secret.secret, secretId: secret.id };
    },
    listApps: () => apps.listApps(),
    async setAppStatus(appId: string, status: 'active' | 'disabled') {
      if (!(await apps.setAppStatus(appId, status))) notFound(`App "${appId}"`);
      await forgetCredentials(appId);
      return { id: appId, status };
    },
    async deleteApp(appId: string) {
      const listed = await bots.listBots(appId);
      await forgetCredentials(appId);
      if (!(await apps.deleteApp(appId))) notFound(`App "${appId}"`);
      await cache.delete(...listed.map((bot) => cacheKeys.workflow(appId, bot.id)));
      return { id: appId, deleted: true };
    },

    async createKey(appId: string, name: string) {
      await requireApp(appId);
      if ((await apps.listKeys(appId)).some((key) => key.name === name && key.revoked_at === null)) {
        throw new AppError('VALIDATION_ERROR', `App "${appId}" already has an active key named "${name}".`, {
          param: 'name',
        });
      }
      return apps.createApiKey({ appId, name });
    },
    async listKeys(appId: string) {
      await requireApp(appId);
      return apps.listKeys(appId);
    },
    async revokeKey(appId: string, keyId: string) {
      if (!(await apps.revokeKey(appId, keyId))) notFound(`Active key "${keyId}" of app "${appId}"`);
      await forgetCredentials(appId, keyId);
      return { id: keyId, revoked: true };
    },

    /** A new signing secret; the old ones stay valid until revoked, so clients can rotate without a gap. */
    async createSecret(appId: string) {
      await requireApp(appId);
      const created = await apps.createSecret({ appId });
      await cache.delete(cacheKeys.secretIds(appId));
      return created;
    },
    async listSecrets(appId: string) {
      await requireApp(appId);
      return apps.listSecrets(appId);
    },
    async revokeSecret(appId: string, secretId: string) {
      if (!(await apps.revokeSecret(appId, secretId))) notFound(`Active secret "${secretId}" of app "${appId}"`);
      // Sockets opened with this secret check the cached list before every run they start.
      await cache.delete(cacheKeys.secretIds(appId));
      return { id: secretId, revoked: true };
    },

    /** `create` refuses an existing id, `update` a missing one; both store a new immutable version. */
    async saveBot(input: {
      appId: string;
      botId: string;
      name?: string | undefined;
      definition: unknown;
      mode: 'create' | 'update';
    }) {
      checkId('Bot', input.botId, 'botId');
      await requireApp(input.appId);
      const definition = parseDefinition(input.definition);
      await providerService.checkBotModels(input.appId, definition);
      const existing = await bots.findBot(input.appId, input.botId);
      if (input.mode === 'create' && existing) {
        throw new AppError('VALIDATION_ERROR', `Bot "${input.botId}" already exists; update it instead.`, {
          param: 'botId',
        });
      }
      if (input.mode === 'update' && !existing) notFound(`Bot "${input.botId}" of app "${input.appId}"`);
      const version = await bots.saveBot({
        appId: input.appId,
        botId: input.botId,
        name: input.name ?? existing?.name ?? input.botId,
        definition,
      });
      await cache.delete(cacheKeys.workflow(input.appId, input.botId));
      return { appId: input.appId, botId: input.botId, version };
    },
    async listBots(appId: string) {
      await requireApp(appId);
      return bots.listBots(appId);
    },
    getBot: requireBot,
    async listBotVersions(appId: string, botId: string) {
      await requireBot(appId, botId);
      return bots.listVersions(appId, botId);
    },
    async deleteBot(appId: string, botId: string) {
      if (!(await bots.deleteBot(appId, botId))) notFound(`Bot "${botId}" of app "${appId}"`);
      await cache.delete(cacheKeys.workflow(appId, botId));
      return { appId, botId, deleted: true };
    },
  };
}
export type AdminService = ReturnType<typeof createAdminService>;
