import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];
const DURATION_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];

/** Prometheus instruments, one registry per app instance (tests run several in one process). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const prefix = 'astron_chat_';
  return {
    registry,
    requests: new Counter({
      name: `${prefix}http_requests_total`,
      help: 'HTTP requests by route and status.',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
    runs: new Counter({
      name: `${prefix}runs_total`,
      help: 'Finished runs by transport, bot, status and error code (0 = none).',
      labelNames: ['transport', 'bot', 'status', 'code'] as const,
      registers: [registry],
    }),
    activeRuns: new Gauge({ name: `${prefix}active_runs`, help: 'Runs streaming now.', registers: [registry] }),
    timeToFirstToken: new Histogram({
      name: `${prefix}time_to_first_token_seconds`,
      help: 'From run start to the first token.',
      labelNames: ['transport'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    runDuration: new Histogram({
      name: `${prefix}run_duration_seconds`,
      help: 'Whole run duration.',
      labelNames: ['transport'] as const,
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
    tokens: new Counter({
      name: `${prefix}tokens_total`,
      help: 'Tokens by kind (prompt, completion).',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    cacheLookups: new Counter({
      name: `${prefix}cache_lookups_total`,
      help: 'Cache lookups by cache and result (hit, miss).',
      labelNames: ['cache', 'result'] as const,
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
