import type { CacheStore } from './cache.ts';
import { createMemoryTtlCache } from './memory-ttl-cache.ts';

/** The embedded default: one process, bounded by entry count. */
export function createMemoryCacheStore(options: { maxEntries?: number } = {}): CacheStore {
  const entries = createMemoryTtlCache<string>({ maxEntries: options.maxEntries ?? 50_000 });
  return {
    kind: 'memory',
    get: (key) => Promise.resolve(entries.get(key)),
    set: (key, value, ttlSeconds) => Promise.resolve(entries.set(key, value, ttlSeconds * 1000)),
    delete: (keys) => Promise.resolve(keys.forEach((key) => entries.delete(key))),
    ping: () => Promise.resolve(),
    close: () => Promise.resolve(entries.clear()),
  };
}
