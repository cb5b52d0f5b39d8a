/** A bounded in-process map: entries expire after their TTL; past `maxEntries` the oldest go first. */
export function createMemoryTtlCache<Value>(options: { maxEntries: number; ttlMs?: number }) {
  const entries = new Map<string, { value: Value; expiresAt: number }>();
  return {
    get(key: string): Value | undefined {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt <= Date.now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.value;
    },
    set(key: string, value: Value, ttlMs = options.ttlMs ?? Number.POSITIVE_INFINITY): void {
      entries.delete(key);
      entries.set(key, { value, expiresAt: Date.now() + ttlMs });
      if (entries.size > options.maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
    delete(key: string): void {
      entries.delete(key);
    },
    clear(): void {
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
