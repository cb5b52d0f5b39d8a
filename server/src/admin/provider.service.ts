import type { BotDefinition } from '@astron-chat/shared';
import { cacheKeys, type Cache } from '../cache/cache.ts';
import { AppError } from '../errors/app-error.ts';
import type { ModelReference, ModelRegistry } from '../providers/model-registry.ts';
import type { BotRepository } from '../store/bot.repository.ts';
import type { ProviderChanges, ProviderRepository, StoredProvider } from '../store/provider.repository.ts';
import type { SecretBox } from '../store/secret-box.ts';

/** What an operator sends to create or update a provider; `null` clears an optional field on update. */
export type ProviderInput = Omit<ProviderChanges, 'type'> & { type?: 'openai-compatible' | undefined };

/** A provider as reads show it: never its key (only the last 4 characters) nor its header values. */
export type ProviderView = Omit<
  StoredProvider,
  'sealedApiKey' | 'sealedHeaders' | 'type' | 'baseUrl' | 'createdAt' | 'updatedAt'
> & {
  type: string;
  source: 'store' | 'environment';
  /** Null for the built-in demo. */
  baseUrl: string | null;
  /** Null for providers from the environment. */
  createdAt: number | null;
  updatedAt: number | null;
};

const MODELS_NAMED_IN_ERRORS = 20;
const BOTS_NAMED_IN_ERRORS = 10;

/**
 * Model providers as managed data (operator-owned, per server), and the check that a bot only
 * names providers and models that exist. Every change drops the cached provider list, which every
 * instance reads before a model call.
 */
export function createProviderService(options: {
  providers: ProviderRepository;
  models: ModelRegistry;
  secrets: SecretBox;
  cache: Cache;
  bots: BotRepository;
}) {
  const { providers, models, secrets, cache, bots } = options;

  function toView(stored: StoredProvider): ProviderView {
    const { sealedApiKey: _key, sealedHeaders: _headers, ...readable } = stored;
    return { ...readable, source: 'store' };
  }

  async function environmentView(id: string): Promise<ProviderView | undefined> {
    const summary = await models.describe(id);
    if (summary?.source !== 'environment') return undefined;
    return {
      id,
      type: summary.type,
      source: 'environment',
      baseUrl: summary.baseUrl ?? null,
      apiKeyLast4: summary.apiKeyLast4 ?? null,
      headerNames: [],
      defaultModel: summary.defaultModel ?? null,
      timeoutMs: null,
      connectTimeoutMs: null,
      maxConcurrency: null,
      allowedApps: null,
      createdAt: null,
      updatedAt: null,
    };
  }

  function refuseUnsealable(input: ProviderInput) {
    if (secrets.source !== undefined) return;
    const param = input.apiKey
      ? 'apiKey'
      : input.headers && Object.keys(input.headers).length > 0
        ? 'headers'
        : undefined;
    if (param) {
      throw new AppError(
        'VALIDATION_ERROR',
        `${param}: this server has no SECRETS_KEY, so it cannot store provider credentials encrypted; set ` +
          'SECRETS_KEY (32 random bytes as base64 or 64 hex digits, e.g. `openssl rand -base64 32`) and restart it.',
        { param },
      );
    }
  }

  async function changed() {
    await cache.delete(cacheKeys.providers());
    await models.refresh();
  }

  /** Bots (current versions) that name provider `id`, with the definition paths that do. */
  async function botsNaming(id: string) {
    const found: Array<{ appId: string; botId: string; paths: string[] }> = [];
    for (const bot of await bots.listCurrentContaining(JSON.stringify(id))) {
      const paths = modelReferencesOf(bot.definition)
        .filter(({ candidate }) => candidate.provider === id)
        .map(({ path }) => `definition.${path}`);
      if (paths.length > 0) found.push({ appId: bot.appId, botId: bot.botId, paths });
    }
    return found;
  }

  async function requireStored(id: string): Promise<StoredProvider> {
    const stored = await providers.find(id);
    if (stored) return stored;
    if (await environmentView(id)) {
      throw new AppError(
        'VALIDATION_ERROR',
        `Provider "${id}" comes from the server's environment (OPENAI_BASE_URL or the built-in demo) and cannot be changed here.`,
        { param: 'id' },
      );
    }
    throw new AppError('NOT_FOUND', `Provider "${id}" was not found.`);
  }

  return {
    async createProvider(id: string, input: ProviderInput & { baseUrl: string }) {
      if (await environmentView(id)) {
        throw new AppError(
          'VALIDATION_ERROR',
          `Provider id "${id}" is taken by a provider from the server's environment; choose another id.`,
          { param: 'id' },
        );
      }
      if (await providers.find(id)) {
        throw new AppError('VALIDATION_ERROR', `A provider with id "${id}" already exists; update it instead.`, {
          param: 'id',
        });
      }
      refuseUnsealable(input);
      await providers.create(id, { ...input, type: input.type ?? 'openai-compatible' });
      await changed();
      return toView(await requireStored(id));
    },

    async updateProvider(id: string, input: ProviderInput) {
      await requireStored(id);
      refuseUnsealable(input);
      await providers.update(id, input);
      await changed();
      return toView(await requireStored(id));
    },

    async listProviders(): Promise<ProviderView[]> {
      const stored = (await providers.list()).map(toView);
      const environment: ProviderView[] = [];
      for (const id of await models.providerIds()) {
        const view = await environmentView(id);
        if (view) environment.push(view);
      }
      return [...environment, ...stored];
    },

    async getProvider(id: string): Promise<ProviderView> {
      const stored = await providers.find(id);
      if (stored) return toView(stored);
      const view = await environmentView(id);
      if (!view) throw new AppError('NOT_FOUND', `Provider "${id}" was not found.`);
      return view;
    },

    /**
     * Refused (1001, naming them) while the current version of any bot, of any app, still names it
     * as a model or a fallback, in a chat bot, an `llm` node or an agent. Older versions are not
     * checked: no new run starts on them, and a run already going keeps the model it resolved.
     */
    async deleteProvider(id: string) {
      await requireStored(id);
      const naming = await botsNaming(id);
      if (naming.length > 0) {
        const shown = naming
          .slice(0, BOTS_NAMED_IN_ERRORS)
          .map((bot) => `${bot.appId}/${bot.botId} (${bot.paths.join(', ')})`)
          .join('; ');
        const more = naming.length > BOTS_NAMED_IN_ERRORS ? `; and ${naming.length - BOTS_NAMED_IN_ERRORS} more` : '';
        throw new AppError(
          'VALIDATION_ERROR',
          `Provider "${id}" is still named by ${naming.length === 1 ? '1 bot' : `${naming.length} bots`}: ` +
            `${shown}${more}. Point them at another provider (or delete them), then delete it.`,
          { param: 'id' },
        );
      }
      await providers.delete(id);
      await changed();
      return { id, deleted: true };
    },

    /**
     * Refuses (1001, at the exact path) a bot that names a provider this server does not have, one
     * not open to the app, or a model its provider does not list (when it can list its models).
     */
    async checkBotModels(appId: string, definition: BotDefinition): Promise<void> {
      for (const { path, candidate } of modelReferencesOf(definition)) {
        const summary = await models.describe(candidate.provider);
        if (!summary) {
          const known = await models.providerIds();
          throw new AppError(
            'VALIDATION_ERROR',
            `definition.${path}.provider: this server has no model provider "${candidate.provider}"; it has: ${known.join(', ')}.`,
            { param: `definition.${path}.provider` },
          );
        }
        if (summary.allowedApps && !summary.allowedApps.includes(appId)) {
          throw new AppError(
            'VALIDATION_ERROR',
            `definition.${path}.provider: model provider "${candidate.provider}" is not available to app "${appId}".`,
            { param: `definition.${path}.provider` },
          );
        }
        const name = candidate.name ?? summary.defaultModel;
        if (name === undefined) {
          throw new AppError(
            'VALIDATION_ERROR',
            `definition.${path}.name: provider "${candidate.provider}" has no default model; name one.`,
            { param: `definition.${path}.name` },
          );
        }
        if (summary.type !== 'openai-compatible') continue;
        const listed = await models.listModels(candidate.provider);
        if (listed && !listed.includes(name)) {
          const shown = listed.slice(0, MODELS_NAMED_IN_ERRORS).join(', ');
          const more =
            listed.length > MODELS_NAMED_IN_ERRORS ? `, and ${listed.length - MODELS_NAMED_IN_ERRORS} more` : '';
          throw new AppError(
            'VALIDATION_ERROR',
            `definition.${path}.name: provider "${candidate.provider}" does not list the model "${name}"; it lists: ${shown || '(none)'}${more}.`,
            { param: `definition.${path}.name` },
          );
        }
      }
    },
  };
}
export type ProviderService = ReturnType<typeof createProviderService>;

/** Every model a bot names, with its path inside the definition: the model, then its fallbacks. */
function modelReferencesOf(definition: BotDefinition): Array<{ path: string; candidate: ModelReference }> {
  const references: Array<{ path: string; reference: ModelReference }> = [];
  if (definition.kind === 'workflow') {
    definition.nodes.forEach((node, index) => {
      if (node.type === 'llm' || node.type === 'agent')
        references.push({ path: `nodes.${index}.model`, reference: node.model });
    });
  } else {
    references.push({ path: 'model', reference: definition.model });
  }
  return references.flatMap(({ path, reference }) => [
    { path, candidate: reference },
    ...(reference.fallbacks ?? []).map((fallback, index) => ({
      path: `${path}.fallbacks.${index}`,
      candidate: fallback,
    })),
  ]);
}
