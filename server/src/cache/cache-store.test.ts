import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { testBackends } from '../../test/support/backends.ts';
import { createMetrics } from '../observability/metrics.ts';
import { createCache, type CacheStore } from './cache.ts';
import { createMemoryCacheStore } from './memory-cache-store.ts';
import { createRedisCacheStore } from './redis-cache-store.ts';

const redisUrl = testBackends().find((backend) => backend.redisUrl)?.redisUrl;
const stores: Array<[string, () => CacheStore]> = [
  ['memory', () => createMemoryCacheStore()],
  ...(redisUrl ? [['redis', () => createRedisCacheStore(redisUrl)] as [string, () => CacheStore]] : []),
];

// The same contract for every implementation of CacheStore.
describe.each(stores)('cache on %s', (_name, open) => {
  const store = open();
  const metrics = createMetrics();
  const cache = createCache(store, { logger: pino({ level: 'silent' }), metrics });
  const key = (family: string) => ({ key: `${family}:test:${randomUUID()}`, ttlSeconds: 60 });
  afterAll(() => store.close());

  it('reads back what it stored and counts hits and misses per key family', async () => {
    const entry = key('session');
    expect(await cache.get(entry)).toBeUndefined();
    await cache.set(entry, { botId: 'b', list: [1, 2] });
    expect(await cache.get(entry)).toEqual({ botId: 'b', list: [1, 2] });
    const lookups = await metrics.cacheLookups.get();
    const count = (result: string) =>
      lookups.values.find((value) => value.labels.cache === 'session' && value.labels.result === result)?.value;
    expect(count('hit')).toBe(1);
    expect(count('miss')).toBe(1);
  });

  it('forgets an entry on delete (invalidation)', async () => {
    const first = key('history');
    const second = key('history');
    await cache.set(first, ['a']);
    await cache.set(second, ['b']);
    await cache.delete(first, second);
    expect(await cache.get(first)).toBeUndefined();
    expect(await cache.get(second)).toBeUndefined();
  });

  it('expires entries after their TTL', async () => {
    const entry = { key: `workflow:test:${randomUUID()}`, ttlSeconds: 1 };
    await cache.set(entry, 1);
    expect(await cache.get(entry)).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await cache.get(entry)).toBeUndefined();
  });

  it('loads through on a miss and caches only real values', async () => {
    const entry = key('workflow');
    let loads = 0;
    const load = () => {
      loads += 1;
      return Promise.resolve(loads === 1 ? undefined : { version: loads });
    };
    expect(await cache.getOrLoad(entry, load)).toBeUndefined();
    expect(await cache.getOrLoad(entry, load)).toEqual({ version: 2 });
    expect(await cache.getOrLoad(entry, load)).toEqual({ version: 2 });
    expect(loads).toBe(2);
  });
});

describe('cache with its store down', () => {
  it('answers as a miss instead of failing, so requests fall back to the database', async () => {
    const store = createRedisCacheStore('redis://127.0.0.1:1/0');
    const cache = createCache(store, { logger: pino({ level: 'silent' }), metrics: createMetrics() });
    const startedAt = Date.now();
    expect(await cache.getOrLoad({ key: 'workflow:x:y', ttlSeconds: 5 }, () => Promise.resolve('from db'))).toBe(
      'from db',
    );
    expect(Date.now() - startedAt).toBeLessThan(6_000);
    await store.close();
  });
});
