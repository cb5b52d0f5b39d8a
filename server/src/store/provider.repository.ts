import type { Database, ProviderTable } from './database.ts';
import type { SecretBox } from './secret-box.ts';

export type ProviderType = 'openai-compatible';

/** A provider as stored: its key and headers still sealed (this is also what the cache holds). */
export type StoredProvider = {
  id: string;
  type: ProviderType;
  baseUrl: string;
  sealedApiKey: string | null;
  apiKeyLast4: string | null;
  sealedHeaders: string | null;
  headerNames: string[];
  defaultModel: string | null;
  timeoutMs: number | null;
  connectTimeoutMs: number | null;
  maxConcurrency: number | null;
  /** App ids that may use it; null for every app. */
  allowedApps: string[] | null;
  createdAt: number;
  updatedAt: number;
};

/** Fields to set; `undefined` leaves one as it is, `null` clears it. Secrets come in clear and are sealed here. */
export type ProviderChanges = {
  type?: ProviderType | undefined;
  baseUrl?: string | undefined;
  apiKey?: string | null | undefined;
  /** Merged into the stored headers; an empty value removes that header. */
  headers?: Record<string, string> | undefined;
  defaultModel?: string | null | undefined;
  timeoutMs?: number | null | undefined;
  connectTimeoutMs?: number | null | undefined;
  maxConcurrency?: number | null | undefined;
  allowedApps?: string[] | null | undefined;
};

export function createProviderRepository(db: Database, secrets: SecretBox) {
  function toStored(row: ProviderTable): StoredProvider {
    return {
      id: row.id,
      type: row.type as ProviderType,
      baseUrl: row.base_url,
      sealedApiKey: row.api_key,
      apiKeyLast4: row.api_key_last4,
      sealedHeaders: row.headers,
      headerNames: row.header_names ? row.header_names.split(',') : [],
      defaultModel: row.default_model,
      timeoutMs: row.timeout_ms,
      connectTimeoutMs: row.connect_timeout_ms,
      maxConcurrency: row.max_concurrency,
      allowedApps: row.allowed_apps === null ? null : (JSON.parse(row.allowed_apps) as string[]),
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    };
  }

  /** The columns `changes` sets, sealing what is secret; `current` is the stored row on update. */
  function toColumns(changes: ProviderChanges, current: StoredProvider | undefined): Partial<ProviderTable> {
    const columns: Partial<ProviderTable> = {};
    if (changes.type !== undefined) columns.type = changes.type;
    if (changes.baseUrl !== undefined) columns.base_url = changes.baseUrl;
    if (changes.apiKey !== undefined) {
      columns.api_key = changes.apiKey === null || changes.apiKey === '' ? null : secrets.seal(changes.apiKey);
      // A short key would be shown whole by its last 4 characters: then none are shown.
      const key = changes.apiKey ?? '';
      columns.api_key_last4 = columns.api_key === null ? null : key.length >= 12 ? key.slice(-4) : '';
    }
    if (changes.headers !== undefined) {
      const headers = { ...openHeaders(secrets, current?.sealedHeaders ?? null) };
      for (const [name, value] of Object.entries(changes.headers)) {
        if (value === '') delete headers[name.toLowerCase()];
        else headers[name.toLowerCase()] = value;
      }
      const names = Object.keys(headers).sort();
      columns.headers = names.length === 0 ? null : secrets.seal(JSON.stringify(headers));
      columns.header_names = names.length === 0 ? null : names.join(',');
    }
    if (changes.defaultModel !== undefined) columns.default_model = changes.defaultModel;
    if (changes.timeoutMs !== undefined) columns.timeout_ms = changes.timeoutMs;
    if (changes.connectTimeoutMs !== undefined) columns.connect_timeout_ms = changes.connectTimeoutMs;
    if (changes.maxConcurrency !== undefined) columns.max_concurrency = changes.maxConcurrency;
    if (changes.allowedApps !== undefined) {
      columns.allowed_apps = changes.allowedApps === null ? null : JSON.stringify(changes.allowedApps);
    }
    return columns;
  }

  return {
    async list(): Promise<StoredProvider[]> {
      return (await db.selectFrom('providers').selectAll().orderBy('id').execute()).map(toStored);
    },

    async find(id: string): Promise<StoredProvider | undefined> {
      const row = await db.selectFrom('providers').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toStored(row) : undefined;
    },

    async create(id: string, changes: ProviderChanges & { type: ProviderType; baseUrl: string }): Promise<void> {
      const now = Date.now();
      await db
        .insertInto('providers')
        .values({
          id,
          type: changes.type,
          base_url: changes.baseUrl,
          api_key: null,
          api_key_last4: null,
          headers: null,
          header_names: null,
          default_model: null,
          timeout_ms: null,
          connect_timeout_ms: null,
          max_concurrency: null,
          allowed_apps: null,
          ...toColumns(changes, undefined),
          created_at: now,
          updated_at: now,
        })
        .execute();
    },

    /** Returns whether the provider existed. */
    async update(id: string, changes: ProviderChanges): Promise<boolean> {
      const current = await this.find(id);
      if (!current) return false;
      // updated_at is also the version the model registry keys its connection pools by: strictly increasing.
      const updatedAt = Math.max(Date.now(), current.updatedAt + 1);
      await db
        .updateTable('providers')
        .set({ ...toColumns(changes, current), updated_at: updatedAt })
        .where('id', '=', id)
        .execute();
      return true;
    },

    /** Returns whether the provider existed. */
    async delete(id: string): Promise<boolean> {
      const result = await db.deleteFrom('providers').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}
export type ProviderRepository = ReturnType<typeof createProviderRepository>;

/** A provider's headers in clear. */
export function openHeaders(secrets: SecretBox, sealed: string | null): Record<string, string> {
  return sealed === null ? {} : (JSON.parse(secrets.open(sealed)) as Record<string, string>);
}

/**
 * A stored provider as the model registry takes it (its `ManagedProvider`, met by shape: the store
 * sits below providers/ and does not import it). Secrets are opened only when a call first needs them.
 */
export type OpenableProvider = {
  id: string;
  version: number;
  defaultModel: string | undefined;
  open(): {
    type: ProviderType;
    baseUrl: string;
    apiKey: string | undefined;
    headers: Record<string, string>;
    defaultModel: string | undefined;
    timeoutMs: number | undefined;
    connectTimeoutMs: number | undefined;
    maxConcurrency: number | undefined;
    allowedApps: string[] | undefined;
  };
};

export function toManagedProvider(stored: StoredProvider, secrets: SecretBox): OpenableProvider {
  return {
    id: stored.id,
    version: stored.updatedAt,
    defaultModel: stored.defaultModel ?? undefined,
    open: () => ({
      type: stored.type,
      baseUrl: stored.baseUrl,
      apiKey: stored.sealedApiKey === null ? undefined : secrets.open(stored.sealedApiKey),
      headers: openHeaders(secrets, stored.sealedHeaders),
      defaultModel: stored.defaultModel ?? undefined,
      timeoutMs: stored.timeoutMs ?? undefined,
      connectTimeoutMs: stored.connectTimeoutMs ?? undefined,
      maxConcurrency: stored.maxConcurrency ?? undefined,
      allowedApps: stored.allowedApps ?? undefined,
    }),
  };
}
