import { Agent } from 'undici';
import { AppError } from '../errors/app-error.ts';
import { createDemoModel, DEMO_MODEL_NAME } from './builtin/demo-model.ts';
import type { ChatModel, ModelCallContext } from './chat-model.ts';
import { listProviderModels } from './openai-compatible/list-models.ts';
import { createOpenAICompatibleModel } from './openai-compatible/openai-compatible-model.ts';
import { ProviderError } from './provider-error.ts';
import { createResilientModel, type ModelCandidate } from './resilient-model.ts';

export type OpenAICompatibleSettings = {
  type: 'openai-compatible';
  baseUrl: string;
  apiKey?: string | undefined;
  headers?: Record<string, string> | undefined;
  /** Model used when a bot names none. */
  defaultModel?: string | undefined;
  /** First-byte timeout and longest silence in the stream, ms. */
  timeoutMs?: number | undefined;
  connectTimeoutMs?: number | undefined;
  /** Model calls at once on this instance; more are refused (and go to a fallback). */
  maxConcurrency?: number | undefined;
  /** App ids that may use it; undefined for every app. */
  allowedApps?: string[] | undefined;
};

export type ProviderSettings = { type: 'demo'; delayMs: number } | OpenAICompatibleSettings;

/** A provider managed at run time (store/provider.repository.ts); `version` changes with every update. */
export type ManagedProvider = {
  id: string;
  version: number;
  defaultModel: string | undefined;
  open(): ProviderSettings;
};

export type ProviderSummary = {
  id: string;
  source: 'environment' | 'store';
  type: ProviderSettings['type'];
  defaultModel: string | undefined;
  allowedApps: string[] | undefined;
  /** Environment providers only: what reads may show of them. */
  baseUrl?: string | undefined;
  apiKeyLast4?: string | undefined;
};

/** A model reference as bots write it: a provider, a model name, and ordered fallbacks. */
export type ModelReference = ModelCandidate & { fallbacks?: ModelCandidate[] | undefined };

const MODEL_LIST_TTL_MS = 60_000;
const MODEL_LIST_TIMEOUT_MS = 5_000;

type Runtime = {
  version: number;
  settings: ProviderSettings;
  dispatcher: Agent | undefined;
  models: Map<string, ChatModel>;
  active: number;
  modelList?: { at: number; names: Promise<string[] | undefined> };
};

/**
 * Provider ids (as bots name them) to models. `bootstrap` providers come from the environment
 * (`demo`, and `upstream` from OPENAI_BASE_URL) and cannot be changed at run time; `managed` ones
 * are loaded from the store on every model call through the cache (so a change on one instance is
 * seen by all once it drops the cache entry). Each provider version gets its own connection pool
 * with its timeouts; a pool is closed once its provider changes or goes.
 */
export function createModelRegistry(options: {
  bootstrap: Record<string, ProviderSettings>;
  managed?: { load(): Promise<ManagedProvider[]> } | undefined;
  defaults: { connectTimeoutMs: number; timeoutMs: number };
  /** Test seam: retry delays are multiplied by this. Default 1. */
  retryDelayScale?: number | undefined;
  onRetry?: Parameters<typeof createResilientModel>[0]['onRetry'];
  /** Wraps each provider model once, when made (observability/model-calls.ts: metrics and spans). */
  instrument?: ((model: ChatModel, provider: string) => ChatModel) | undefined;
}) {
  const runtimes = new Map<string, Runtime>();
  /** The managed providers as last loaded, for what must be answered without waiting (model names). */
  let latest = new Map<string, ManagedProvider>();

  async function loadManaged(): Promise<Map<string, ManagedProvider>> {
    if (!options.managed) return latest;
    const list = await options.managed.load();
    latest = new Map(list.map((provider) => [provider.id, provider]));
    for (const [id, runtime] of runtimes) {
      if (id in options.bootstrap) continue;
      const current = latest.get(id);
      if (!current || current.version !== runtime.version) retire(id, runtime);
    }
    return latest;
  }

  function retire(id: string, runtime: Runtime) {
    runtimes.delete(id);
    // Streams still open on the old pool finish; close() waits for them.
    void runtime.dispatcher?.close().catch(() => undefined);
  }

  function createRuntime(version: number, settings: ProviderSettings): Runtime {
    const dispatcher =
      settings.type === 'openai-compatible'
        ? new Agent({
            connect: { timeout: settings.connectTimeoutMs ?? options.defaults.connectTimeoutMs },
            headersTimeout: settings.timeoutMs ?? options.defaults.timeoutMs,
            bodyTimeout: settings.timeoutMs ?? options.defaults.timeoutMs,
            ...(settings.maxConcurrency === undefined ? {} : { connections: settings.maxConcurrency }),
          })
        : undefined;
    return { version, settings, dispatcher, models: new Map(), active: 0 };
  }

  async function runtimeOf(id: string): Promise<Runtime | undefined> {
    const bootstrap = options.bootstrap[id];
    if (bootstrap) {
      let runtime = runtimes.get(id);
      if (!runtime) runtimes.set(id, (runtime = createRuntime(0, bootstrap)));
      return runtime;
    }
    const managed = (await loadManaged()).get(id);
    if (!managed) return undefined;
    let runtime = runtimes.get(id);
    if (!runtime || runtime.version !== managed.version) {
      if (runtime) retire(id, runtime);
      runtime = createRuntime(managed.version, managed.open());
      runtimes.set(id, runtime);
    }
    return runtime;
  }

  async function knownIds(): Promise<string[]> {
    return [...new Set([...Object.keys(options.bootstrap), ...(await loadManaged()).keys()])].sort();
  }

  function unknownProvider(id: string, known: string[]): AppError {
    return new AppError(
      'WORKFLOW_ERROR',
      `The bot uses model provider "${id}", which this server does not have (it has: ${known.join(', ')}).`,
    );
  }

  function modelOf(id: string, runtime: Runtime, name: string | undefined): ChatModel {
    const { settings } = runtime;
    const modelName = name ?? (settings.type === 'demo' ? DEMO_MODEL_NAME : settings.defaultModel);
    if (modelName === undefined) {
      throw new AppError('WORKFLOW_ERROR', `The bot names no model and provider "${id}" has no default model.`);
    }
    let model = runtime.models.get(modelName);
    if (!model) {
      model =
        settings.type === 'demo'
          ? createDemoModel({ delayMs: settings.delayMs })
          : createOpenAICompatibleModel({
              baseUrl: settings.baseUrl,
              apiKey: settings.apiKey,
              headers: settings.headers,
              model: modelName,
              dispatcher: runtime.dispatcher,
              slots: settings.maxConcurrency === undefined ? undefined : slotsOf(id, runtime, settings.maxConcurrency),
            });
      if (options.instrument) model = options.instrument(model, id);
      runtime.models.set(modelName, model);
    }
    return model;
  }

  async function resolveCandidate(candidate: ModelCandidate, context: ModelCallContext | undefined) {
    const runtime = await runtimeOf(candidate.provider);
    if (!runtime) throw unknownProvider(candidate.provider, await knownIds());
    const allowed = runtime.settings.type === 'openai-compatible' ? runtime.settings.allowedApps : undefined;
    if (allowed && context?.appId !== undefined && !allowed.includes(context.appId)) {
      throw new AppError('FORBIDDEN', `Model provider "${candidate.provider}" is not available to this app.`);
    }
    return modelOf(candidate.provider, runtime, candidate.name);
  }

  function defaultModelOf(id: string): string | undefined {
    const bootstrap = options.bootstrap[id];
    if (bootstrap) return bootstrap.type === 'demo' ? DEMO_MODEL_NAME : bootstrap.defaultModel;
    return latest.get(id)?.defaultModel;
  }

  return {
    /**
     * The model a bot's reference stands for, with its fallbacks. Nothing is looked up until a call
     * is made, so a compiled bot keeps working across provider changes.
     */
    resolve(reference: ModelReference): ChatModel {
      return createResilientModel({
        candidates: [{ provider: reference.provider, name: reference.name }, ...(reference.fallbacks ?? [])],
        modelName: () => reference.name ?? defaultModelOf(reference.provider) ?? reference.provider,
        resolve: resolveCandidate,
        retryDelayScale: options.retryDelayScale,
        onRetry: options.onRetry,
      });
    },

    /** Every provider id this server has, sorted. */
    providerIds: knownIds,

    async describe(id: string): Promise<ProviderSummary | undefined> {
      const bootstrap = options.bootstrap[id];
      if (bootstrap) {
        return {
          id,
          source: 'environment',
          type: bootstrap.type,
          defaultModel: defaultModelOf(id),
          allowedApps: undefined,
          ...(bootstrap.type === 'openai-compatible'
            ? { baseUrl: bootstrap.baseUrl, apiKeyLast4: bootstrap.apiKey?.slice(-4) }
            : {}),
        };
      }
      const runtime = await runtimeOf(id);
      if (!runtime || runtime.settings.type !== 'openai-compatible') return undefined;
      return {
        id,
        source: 'store',
        type: runtime.settings.type,
        defaultModel: runtime.settings.defaultModel,
        allowedApps: runtime.settings.allowedApps,
      };
    },

    /** The models a provider lists (`GET {baseUrl}/models`), cached a minute; undefined when it cannot list them. */
    async listModels(id: string): Promise<string[] | undefined> {
      const runtime = await runtimeOf(id);
      if (!runtime || runtime.settings.type !== 'openai-compatible') return undefined;
      const { settings } = runtime;
      if (!runtime.modelList || Date.now() - runtime.modelList.at > MODEL_LIST_TTL_MS) {
        runtime.modelList = {
          at: Date.now(),
          names: listProviderModels({
            baseUrl: settings.baseUrl,
            headers: {
              ...settings.headers,
              ...(settings.apiKey ? { authorization: `Bearer ${settings.apiKey}` } : {}),
            },
            dispatcher: runtime.dispatcher,
            timeoutMs: MODEL_LIST_TIMEOUT_MS,
          }),
        };
      }
      return runtime.modelList.names;
    },

    /** Loads the managed providers now (at start, so model names are known before the first call). */
    async refresh(): Promise<void> {
      await loadManaged();
    },

    async close(): Promise<void> {
      const closing = [...runtimes.values()].flatMap((runtime) =>
        runtime.dispatcher ? [runtime.dispatcher.close()] : [],
      );
      runtimes.clear();
      await Promise.allSettled(closing);
    },
  };
}
export type ModelRegistry = ReturnType<typeof createModelRegistry>;

/** A provider's concurrency cap on this instance: a call past it fails at once (and the next fallback is tried). */
function slotsOf(id: string, runtime: Runtime, cap: number) {
  return {
    acquire() {
      if (runtime.active >= cap) {
        throw new ProviderError(`Model provider "${id}" is at its concurrency cap (${cap} calls at once)`, {
          status: 429,
          retryable: true,
        });
      }
      runtime.active += 1;
    },
    release() {
      runtime.active -= 1;
    },
  };
}
