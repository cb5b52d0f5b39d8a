import { sql } from 'kysely';
import type { CacheStore } from '../cache/cache.ts';
import type { DatabaseHandle } from '../store/database.ts';

export type CheckResult = { status: 'up' | 'down'; latencyMs: number; error?: string };
export type HealthReport = {
  /** `ok`: all up; `degraded`: an optional dependency is down; `unavailable`: a required one is. */
  status: 'ok' | 'degraded' | 'unavailable';
  checks: Record<string, CheckResult & { kind: string; required: boolean }>;
};

async function timed(check: () => Promise<unknown>): Promise<CheckResult> {
  const startedAt = performance.now();
  const latencyMs = () => Math.round((performance.now() - startedAt) * 100) / 100;
  try {
    await check();
    return { status: 'up', latencyMs: latencyMs() };
  } catch (error) {
    return { status: 'down', latencyMs: latencyMs(), error: (error as Error).message };
  }
}

/** The database is required; the cache is not (requests fall back to the database). */
export function createHealthCheck(options: { database: DatabaseHandle; cacheStore: CacheStore }) {
  return async function checkHealth(): Promise<HealthReport> {
    const [database, cache] = await Promise.all([
      timed(() => sql`select 1`.execute(options.database.db)),
      timed(() => options.cacheStore.ping()),
    ]);
    const checks = {
      database: { kind: options.database.kind, required: true, ...database },
      cache: { kind: options.cacheStore.kind, required: false, ...cache },
    };
    const down = Object.values(checks).filter((check) => check.status === 'down');
    const status = down.some((check) => check.required) ? 'unavailable' : down.length > 0 ? 'degraded' : 'ok';
    return { status, checks };
  };
}
