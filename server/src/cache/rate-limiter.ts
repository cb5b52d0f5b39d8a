import { Redis } from 'ioredis';

/** A token bucket's answer: allowed, or how long until a token is back. */
export type Admission = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** Limits shared by every instance (Redis) or kept by one (in-process), behind one interface. */
export interface Limiter {
  /** Takes one token from `key`'s bucket: `capacity` tokens, refilled at `perMinute` a minute. */
  take(key: string, bucket: { capacity: number; perMinute: number }): Promise<Admission>;
  /** Counts one more concurrent use of `key` unless `limit` are in use; `release` gives it back. */
  acquire(key: string, limit: number): Promise<{ acquired: boolean; release: () => Promise<void> }>;
  close(): Promise<void>;
}

const NOOP = () => Promise.resolve();

export function createMemoryLimiter(options: { maxKeys?: number } = {}): Limiter {
  const maxKeys = options.maxKeys ?? 100_000;
  const buckets = new Map<string, { tokens: number; updatedAt: number }>();
  const inUse = new Map<string, number>();
  return {
    take(key, bucket) {
      const now = Date.now();
      const state = buckets.get(key) ?? { tokens: bucket.capacity, updatedAt: now };
      const refilled = Math.min(bucket.capacity, state.tokens + ((now - state.updatedAt) / 60_000) * bucket.perMinute);
      buckets.delete(key);
      if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value as string);
      if (refilled >= 1) {
        buckets.set(key, { tokens: refilled - 1, updatedAt: now });
        return Promise.resolve({ allowed: true });
      }
      buckets.set(key, { tokens: refilled, updatedAt: now });
      return Promise.resolve({
        allowed: false,
        retryAfterSeconds: Math.ceil(((1 - refilled) * 60) / bucket.perMinute),
      });
    },
    acquire(key, limit) {
      const current = inUse.get(key) ?? 0;
      if (current >= limit) return Promise.resolve({ acquired: false, release: NOOP });
      inUse.set(key, current + 1);
      let released = false;
      return Promise.resolve({
        acquired: true,
        release: () => {
          if (!released) {
            released = true;
            const left = (inUse.get(key) ?? 1) - 1;
            if (left <= 0) inUse.delete(key);
            else inUse.set(key, left);
          }
          return Promise.resolve();
        },
      });
    },
    close: NOOP,
  };
}

// KEYS[1] bucket; ARGV: capacity, tokens per millisecond, now (ms). One round trip, atomic.
const TAKE_SCRIPT = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
if allowed == 1 then return {1, 0} end
return {0, math.ceil((1 - tokens) / rate)}
`;

// KEYS[1] counter; ARGV: limit, ttl ms (a crashed holder's slot frees itself).
const ACQUIRE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

// Never below zero, even when the slot's TTL freed it first.
const RELEASE_SCRIPT = `
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then return redis.call('DECR', KEYS[1]) end
return 0
`;

export function createRedisLimiter(url: string, options: { slotTtlMs: number }): Limiter {
  const redis = new Redis(url, {
    connectTimeout: 5_000,
    commandTimeout: 5_000,
    maxRetriesPerRequest: 1,
  }) as Redis & {
    takeToken(key: string, capacity: number, perMs: number, now: number): Promise<[number, number]>;
    acquireSlot(key: string, limit: number, ttlMs: number): Promise<number>;
    releaseSlot(key: string): Promise<number>;
  };
  redis.on('error', () => undefined);
  // EVALSHA with the script's hash; ioredis sends the script itself once, and again after a restart.
  redis.defineCommand('takeToken', { numberOfKeys: 1, lua: TAKE_SCRIPT });
  redis.defineCommand('acquireSlot', { numberOfKeys: 1, lua: ACQUIRE_SCRIPT });
  redis.defineCommand('releaseSlot', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
  return {
    async take(key, bucket) {
      const [allowed, retryAfterMs] = await redis.takeToken(
        `rate:${key}`,
        bucket.capacity,
        bucket.perMinute / 60_000,
        Date.now(),
      );
      return allowed === 1
        ? { allowed: true }
        : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) };
    },
    async acquire(key, limit) {
      const counter = `concurrency:${key}`;
      const acquired = (await redis.acquireSlot(counter, limit, options.slotTtlMs)) === 1;
      if (!acquired) return { acquired: false, release: NOOP };
      let released = false;
      return {
        acquired: true,
        release: async () => {
          if (released) return;
          released = true;
          await redis.releaseSlot(counter).catch(() => undefined);
        },
      };
    },
    close() {
      redis.disconnect();
      return Promise.resolve();
    },
  };
}
