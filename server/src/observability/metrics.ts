import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];
const DURATION_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];
/** The OpenTelemetry HTTP semantic conventions' buckets, with 30 s and 60 s added for streams. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60];
/** The GenAI semantic conventions' advised buckets for `gen_ai.client.operation.duration`. */
const GEN_AI_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/** … and for `gen_ai.client.token.usage`. */
const GEN_AI_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304];

/** Labels of the GenAI metrics: the conventions' attribute names with `.` as `_`. */
const GEN_AI_LABELS = ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model'] as const;

/**
 * Prometheus instruments, one registry per app instance (tests run several in one process). The
 * names are contracts (deploy/prometheus/alerts.yml and deploy/grafana/astron-chat.json use them);
 * the OpenTelemetry ones are their semantic-convention names as Prometheus spells them.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const prefix = 'astron_chat_';
  /** Values read when /metrics is scraped; app.ts points them at their owners. */
  const readings = { unsentBytes: () => 0 };
  return {
    registry,
    readings,
    httpRequestDuration: new Histogram({
      name: 'http_server_request_duration_seconds',
      help: 'HTTP request duration by route and status, to the end of the response (streams included).',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: HTTP_BUCKETS,
      registers: [registry],
    }),
    runs: new Counter({
      name: `${prefix}runs_total`,
      help: 'Finished runs by transport, bot, status and error code (0 = none).',
      labelNames: ['transport', 'bot', 'status', 'code'] as const,
      registers: [registry],
    }),
    activeRuns: new Gauge({ name: `${prefix}active_runs`, help: 'Runs streaming now.', registers: [registry] }),
    activeRunsLimit: new Gauge({
      name: `${prefix}active_runs_limit`,
      help: 'MAX_ACTIVE_RUNS: runs this instance executes at once.',
      registers: [registry],
    }),
    appConcurrentRunsLimit: new Gauge({
      name: `${prefix}app_concurrent_runs_limit`,
      help: 'MAX_CONCURRENT_RUNS_PER_APP: runs of one app at once, across instances.',
      registers: [registry],
    }),
    rateLimitPerMinute: new Gauge({
      name: `${prefix}rate_limit_runs_per_minute`,
      help: 'Runs a minute allowed per app and per API key (0 = no limit).',
      labelNames: ['scope'] as const,
      registers: [registry],
    }),
    timeToFirstToken: new Histogram({
      name: `${prefix}time_to_first_token_seconds`,
      help: 'From run start to the first token.',
      labelNames: ['transport'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    runDuration: new Histogram({
      name: `${prefix}run_duration_seconds`,
      help: 'Whole run duration by transport and bot kind (chat, agent, workflow).',
      labelNames: ['transport', 'kind'] as const,
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
    nodeDuration: new Histogram({
      name: `${prefix}workflow_node_duration_seconds`,
      help: 'Workflow node runs (all attempts) by node type and status.',
      labelNames: ['node_type', 'status'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    genAiOperationDuration: new Histogram({
      name: 'gen_ai_client_operation_duration_seconds',
      help: 'gen_ai.client.operation.duration: one model call, request to last chunk.',
      labelNames: [...GEN_AI_LABELS, 'error_type'] as const,
      buckets: GEN_AI_DURATION_BUCKETS,
      registers: [registry],
    }),
    genAiTimeToFirstChunk: new Histogram({
      name: 'gen_ai_client_operation_time_to_first_chunk_seconds',
      help: 'gen_ai.client.operation.time_to_first_chunk: request to the first streamed chunk.',
      labelNames: GEN_AI_LABELS,
      buckets: GEN_AI_DURATION_BUCKETS,
      registers: [registry],
    }),
    genAiTokenUsage: new Histogram({
      name: 'gen_ai_client_token_usage',
      help: 'gen_ai.client.token.usage: tokens per model call by type (input, output).',
      labelNames: [...GEN_AI_LABELS, 'gen_ai_token_type'] as const,
      buckets: GEN_AI_TOKEN_BUCKETS,
      registers: [registry],
    }),
    upstreamErrors: new Counter({
      name: `${prefix}upstream_errors_total`,
      help: 'Failed model calls by provider and class (rate_limited, client_error, server_error, unreachable, bad_response, timeout).',
      labelNames: ['provider', 'class'] as const,
      registers: [registry],
    }),
    eventLoopLag: new Gauge({
      name: `${prefix}event_loop_lag_seconds`,
      help: 'Event-loop lag as load shedding (OVERLOAD_LAG_MS) reads it: the median lateness of the last five 50 ms timers.',
      registers: [registry],
    }),
    overloadLagThreshold: new Gauge({
      name: `${prefix}overload_lag_threshold_seconds`,
      help: 'OVERLOAD_LAG_MS: event-loop lag past which new runs and WebSocket upgrades are refused (0 = off).',
      registers: [registry],
    }),
    overloadRefusals: new Counter({
      name: `${prefix}overload_refusals_total`,
      help: 'New runs and WebSocket upgrades refused (1010) while the event loop lagged, by kind (run, websocket) and transport.',
      labelNames: ['kind', 'transport'] as const,
      registers: [registry],
    }),
    slowConsumerCuts: new Counter({
      name: `${prefix}slow_consumer_cuts_total`,
      help: 'Streams closed as slow consumers, by transport and limit (stream: STREAM_MAX_BUFFERED_BYTES, total: STREAM_MAX_TOTAL_BUFFERED_BYTES).',
      labelNames: ['transport', 'limit'] as const,
      registers: [registry],
    }),
    unsentBytes: new Gauge({
      name: `${prefix}stream_unsent_bytes`,
      help: 'Bytes all open streams hold unsent, as the total budget counts them (each at its last write).',
      registers: [registry],
      collect() {
        this.set(readings.unsentBytes());
      },
    }),
    unsentBytesLimit: new Gauge({
      name: `${prefix}stream_unsent_bytes_limit`,
      help: 'STREAM_MAX_TOTAL_BUFFERED_BYTES: unsent bytes of all streams past which the largest are cut.',
      registers: [registry],
    }),
    eventSinkPending: new Gauge({
      name: `${prefix}event_sink_pending_events`,
      help: 'Events in the outbox not yet accepted by the event sink.',
      registers: [registry],
    }),
    eventSinkLag: new Gauge({
      name: `${prefix}event_sink_lag_seconds`,
      help: 'Age of the oldest event the event sink has not accepted yet (0 when none waits).',
      registers: [registry],
    }),
    eventSinkPublished: new Counter({
      name: `${prefix}event_sink_published_total`,
      help: 'Events the event sink accepted.',
      registers: [registry],
    }),
    eventSinkFailures: new Counter({
      name: `${prefix}event_sink_failures_total`,
      help: 'Failed attempts to publish to the event sink (each is retried).',
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
