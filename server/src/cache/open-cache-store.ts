import { redactUrl } from '../lib/redact-url.ts';
import type { CacheStore } from './cache.ts';
import { createMemoryCacheStore } from './memory-cache-store.ts';
import { createRedisCacheStore } from './redis-cache-store.ts';

/** Redis when REDIS_URL is set (checked now: a wrong URL fails the start, naming it), else in-process. */
export async function openCacheStore(redisUrl: string | undefined): Promise<{ store: CacheStore; describe: string }> {
  if (!redisUrl) return { store: createMemoryCacheStore(), describe: 'in-process cache' };
  const describe = redactUrl(new URL(redisUrl));
  const store = createRedisCacheStore(redisUrl);
  try {
    await store.ping();
  } catch (error) {
    await store.close();
    throw new Error(`Could not reach Redis at ${describe}: ${(error as Error).message}`, { cause: error });
  }
  return { store, describe };
}
