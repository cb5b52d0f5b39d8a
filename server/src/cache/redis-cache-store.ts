import { Redis } from 'ioredis';
import type { CacheStore } from './cache.ts';

/**
 * Redis with short timeouts and no offline queue: while Redis is away, commands fail at once (the
 * cache then reads as a miss) instead of piling up; ioredis reconnects in the background.
 */
export function createRedisCacheStore(url: string): CacheStore {
  const redis = new Redis(url, {
    connectTimeout: 5_000,
    commandTimeout: 5_000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  // Connection errors surface per command; without a listener ioredis would log them unasked.
  redis.on('error', () => undefined);
  let connecting: Promise<void> | undefined;
  const ready = () => {
    if (redis.status === 'ready') return Promise.resolve();
    if (redis.status === 'wait') connecting ??= redis.connect();
    return connecting ?? Promise.resolve();
  };
  return {
    kind: 'redis',
    async get(key) {
      await ready();
      return (await redis.get(key)) ?? undefined;
    },
    async set(key, value, ttlSeconds) {
      await ready();
      await redis.set(key, value, 'EX', ttlSeconds);
    },
    async delete(keys) {
      if (keys.length === 0) return;
      await ready();
      await redis.del(...keys);
    },
    async ping() {
      await ready();
      await redis.ping();
    },
    close() {
      redis.disconnect();
      return Promise.resolve();
    },
  };
}
