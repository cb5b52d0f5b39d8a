import type { Logger } from 'pino';

/**
 * Key names and TTLs from the design (SPEC §9). Keys carry the app id wherever the design's id is
 * chosen by callers, so one app's entry can never answer another's lookup.
 */
export const cacheKeys = {
  /** A bot's current version and definition. */
  workflow: (appId: string, botId: string) => ({ key: `workflow:${appId}:${botId}`, ttlSeconds: 1800 }),
  /** Which bot and user a chat belongs to. */
  session: (appId: string, chatId: string) => ({ key: `session:${appId}:${chatId}`, ttlSeconds: 1800 }),
  /** The app and status behind an API key, by the key's SHA-256 (never the key itself). */
  apiKey: (keyHash: string) => ({ key: `apikey:${keyHash}`, ttlSeconds: 300 }),
  /**
   * The SHA-256 of an API key, by the key's id: what a follow token is checked with. It never changes
   * for an id; a revoked key is refused by the `apiKey` lookup after it, so it need not be dropped.
   */
  keyHash: (appId: string, keyId: string) => ({ key: `keyhash:${appId}:${keyId}`, ttlSeconds: 300 }),
  /** An app's status, for the consumer header and signatures. */
  app: (appId: string) => ({ key: `app:${appId}`, ttlSeconds: 300 }),
  /** Ids (never values) of an app's active signing secrets: open sockets check theirs is still one. */
  secretIds: (appId: string) => ({ key: `secrets:${appId}`, ttlSeconds: 300 }),
  /** Every managed model provider, secrets still sealed; dropped on every change to one. */
  providers: () => ({ key: 'providers:all', ttlSeconds: 60 }),
  /** The stored turns of a chat, oldest first. */
  history: (appId: string, chatId: string) => ({ key: `history:${appId}:${chatId}`, ttlSeconds: 600 }),
} as const;

/** JSON values with a TTL; Redis in production, a bounded map in embedded mode. */
export interface CacheStore {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  delete(keys: string[]): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What the cache counts; the app's Prometheus metrics (observability/metrics.ts) fit it. */
export type CacheMetrics = {
  cacheLookups: { inc(labels: { cache: string; result: 'hit' | 'miss' }): void };
};

/**
 * The cache the service uses: counts hits and misses per key family, and never fails a request —
 * a store that is down behaves as a miss (the database answers) and is logged.
 */
export function createCache(store: CacheStore, options: { logger: Logger; metrics: CacheMetrics }) {
  const family = (key: string) => key.slice(0, key.indexOf(':'));
  const warn = (error: unknown, key: string) =>
    options.logger.warn({ err: error, key: family(key), store: store.kind }, 'cache unavailable; using the database');

  return {
    kind: store.kind,
    store,
    async get<Value>(entry: { key: string }): Promise<Value | undefined> {
      let text: string | undefined;
      try {
        text = await store.get(entry.key);
      } catch (error) {
        warn(error, entry.key);
      }
      options.metrics.cacheLookups.inc({ cache: family(entry.key), result: text === undefined ? 'miss' : 'hit' });
      return text === undefined ? undefined : (JSON.parse(text) as Value);
    },
    async set(entry: { key: string; ttlSeconds: number }, value: unknown): Promise<void> {
      try {
        await store.set(entry.key, JSON.stringify(value), entry.ttlSeconds);
      } catch (error) {
        warn(error, entry.key);
      }
    },
    /** Invalidation: after every change to what a key holds. */
    async delete(...entries: Array<{ key: string }>): Promise<void> {
      try {
        await store.delete(entries.map((entry) => entry.key));
      } catch (error) {
        warn(error, entries[0]?.key ?? '');
      }
    },
    /** Reads through: the cached value, or `load()`'s, stored unless it is undefined. */
    async getOrLoad<Value>(
      entry: { key: string; ttlSeconds: number },
      load: () => Promise<Value | undefined>,
    ): Promise<Value | undefined> {
      const cached = await this.get<Value>(entry);
      if (cached !== undefined) return cached;
      const loaded = await load();
      if (loaded !== undefined) await this.set(entry, loaded);
      return loaded;
    },
  };
}
export type Cache = ReturnType<typeof createCache>;
