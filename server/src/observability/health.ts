import { sql } from 'kysely';
import type { CacheStore } from '../cache/cache.ts';
import type { ProviderSettings } from '../providers/model-registry.ts';
import type { DatabaseHandle } from '../store/database.ts';

export type CheckResult = { status: 'up' | 'down'; latencyMs: number; error?: string };
export type Check = CheckResult & { kind: string; required: boolean };
export type HealthReport = {
  /** `ok`: all up; `degraded`: an optional dependency is down; `unavailable`: a required one is. */
  status: 'ok' | 'degraded' | 'unavailable';
  checks: Record<string, Check>;
  /** When the checks ran (ISO 8601, UTC); a cached report keeps its own time. */
  timestamp: string;
};

/** A check that takes longer than this is down: a probe must answer before the orchestrator gives up. */
const CHECK_TIMEOUT_MS = 2_000;
/** Reports are reused this long, so probes every second cost the dependencies one check each. */
const CACHE_MS = 2_000;

async function timed(check: (signal: AbortSignal) => Promise<unknown>): Promise<CheckResult> {
  const startedAt = performance.now();
  const latencyMs = () => Math.round((performance.now() - startedAt) * 100) / 100;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(controller.signal),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { status: 'up', latencyMs: latencyMs() };
  } catch (error) {
    return { status: 'down', latencyMs: latencyMs(), error: (error as Error).message };
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

/** Any HTTP answer from the provider's base URL means it is reachable (even 401: the key is the caller's concern). */
async function probeProvider(settings: Extract<ProviderSettings, { type: 'openai-compatible' }>, signal: AbortSignal) {
  const base = settings.baseUrl.endsWith('/') ? settings.baseUrl : `${settings.baseUrl}/`;
  const response = await fetch(new URL('models', base), {
    headers: settings.apiKey ? { authorization: `Bearer ${settings.apiKey}` } : {},
    signal,
  });
  await response.body?.cancel();
}

export type HealthOptions = {
  database: DatabaseHandle;
  cacheStore: CacheStore;
  /** The event sink, when EVENT_SINK_URL is set. */
  eventSink?: { kind: string; ping(): Promise<void> } | undefined;
  providers: Record<string, ProviderSettings>;
};

/**
 * The database is required, and so is Redis when it is configured (runs, their logs and the shared
 * limits live there); so is the event sink when configured, and at least one model provider: the
 * remote ones are probed and one must answer; with none configured the built-in demo model counts.
 */
export function createHealthCheck(options: HealthOptions) {
  const remote = Object.entries(options.providers).filter(
    (entry): entry is [string, Extract<ProviderSettings, { type: 'openai-compatible' }>] =>
      entry[1].type === 'openai-compatible',
  );
  let cached: { report: HealthReport; at: number } | undefined;
  let running: Promise<HealthReport> | undefined;

  async function run(): Promise<HealthReport> {
    const redis = options.cacheStore.kind === 'redis';
    const [database, cache, eventSink, ...providers] = await Promise.all([
      timed(() => sql`select 1`.execute(options.database.db)),
      timed(() => options.cacheStore.ping()),
      options.eventSink ? timed(() => options.eventSink!.ping()) : undefined,
      ...remote.map(([, settings]) => timed((signal) => probeProvider(settings, signal))),
    ]);
    const checks: Record<string, Check> = {
      database: { kind: options.database.kind, required: true, ...database },
      cache: { kind: options.cacheStore.kind, required: redis, ...cache },
    };
    if (options.eventSink && eventSink)
      checks.eventSink = { kind: options.eventSink.kind, required: true, ...eventSink };
    if (remote.length > 0) {
      // One provider answering is enough; each is listed, and only "all down" is a required failure.
      const anyUp = providers.some((result) => result?.status === 'up');
      remote.forEach(([id], index) => {
        const result = providers[index] as CheckResult;
        checks[`provider:${id}`] = { kind: 'openai-compatible', required: !anyUp, ...result };
      });
    } else {
      checks['provider:demo'] = { kind: 'builtin', required: true, status: 'up', latencyMs: 0 };
    }
    const down = Object.values(checks).filter((check) => check.status === 'down');
    const status = down.some((check) => check.required) ? 'unavailable' : down.length > 0 ? 'degraded' : 'ok';
    return { status, checks, timestamp: new Date().toISOString() };
  }

  return async function checkHealth(): Promise<HealthReport> {
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.report;
    // Concurrent probes share one round of checks.
    running ??= run().then((report) => {
      cached = { report, at: Date.now() };
      running = undefined;
      return report;
    });
    return running;
  };
}

/** The names of the required checks that failed, for a 503's body. */
export function failingChecks(report: HealthReport): string[] {
  return Object.entries(report.checks)
    .filter(([, check]) => check.required && check.status === 'down')
    .map(([name]) => name);
}
