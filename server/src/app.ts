import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createAdminService } from './admin/admin.service.ts';
import { createAuthenticator } from './auth/authenticator.ts';
import { createChatService } from './chat/run-chat.ts';
import { createAdmission } from './chat/admission.ts';
import { createMemoryLimiter, createRedisLimiter } from './cache/rate-limiter.ts';
import { createConversationService } from './chat/conversations.ts';
import type { Config } from './config/config.ts';
import { createLogger } from './lib/logger.ts';
import { cacheKeys, createCache, type CacheStore } from './cache/cache.ts';
import { openCacheStore } from './cache/open-cache-store.ts';
import { createHealthCheck } from './observability/health.ts';
import { traceHttpCalls, tracing } from './observability/tracing.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { createOverloadGuard } from './observability/overload.ts';
import { createUnsentBudget } from './lib/unsent-budget.ts';
import { instrumentModel } from './observability/model-calls.ts';
import { createRunObserver } from './observability/run-observer.ts';
import { startEventSink, type EventSink } from './observability/event-sink.ts';
import { createOutboxRepository } from './store/outbox.repository.ts';
import { createMemoryRunLog } from './run-log/memory-run-log.ts';
import { createRedisRunLog } from './run-log/redis-run-log.ts';
import { createRunManager } from './runs/run-manager.ts';
import { closeInterruptedRuns, sweepInterruptedRuns } from './runs/interrupted-runs.ts';
import { createModelRegistry, type ProviderSettings } from './providers/model-registry.ts';
import { createProviderRepository, toManagedProvider } from './store/provider.repository.ts';
import { createSecretBox } from './store/secret-box.ts';
import { createAppRepository } from './store/app.repository.ts';
import { createBotRepository } from './store/bot.repository.ts';
import { createDatabase, type DatabaseHandle } from './store/database.ts';
import { seedDemo } from './store/demo-seed.ts';
import { migrateToLatest } from './store/migrate.ts';
import { createRunRepository } from './store/run.repository.ts';
import { createNodeRunRepository } from './store/node-run.repository.ts';
import { createInputAudit } from './chat/input-audit.ts';
import { createRunReads } from './chat/run-reads.ts';
import { createHttpCaller } from './workflow/http-call.ts';
import { createHttpServer } from './transport/http/http-server.ts';
import type { TransportDependencies } from './transport/transport-dependencies.ts';

/**
 * Connections the kernel holds for us while the event loop is busy (Linux caps it at
 * net.core.somaxconn, 4096 by default since 5.4). Node's default, 511, overflowed in the bench's
 * overload row: 1,000 streams each opening a WebSocket, arriving in bursts, filled it during a
 * stall of a few hundred ms, and the kernel dropped the rest, whose clients resent their SYN after
 * 1, 3 and 7 s and timed out in the handshake. Queued, they are served or refused (1010) instead.
 */
const LISTEN_BACKLOG = 4096;

export type AppOverrides = {
  logger?: Logger;
  /** Extra or replacement model providers by id (tests point `upstream` at a fake server). */
  providers?: Record<string, ProviderSettings>;
  /** Test seam: scales the retry delays of workflow nodes and model calls. */
  retryDelayScale?: number;
};

export type App = {
  server: Server;
  /** Where data lives, for the start banner: database and cache, secrets redacted. */
  describe: string;
  database: DatabaseHandle;
  dependencies: TransportDependencies;
  listen(): Promise<{ url: string; port: number }>;
  /** Stops accepting, ends open streams after `graceMs`, closes the database. */
  close(graceMs?: number): Promise<void>;
};

/**
 * Wires the service: storage, then the services (createServices), then HTTP
 * (transport/http/http-server.ts). Never listens by itself: call `listen()`.
 */
export async function createApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const logger = overrides.logger ?? createLogger(config.logLevel, config.logFile);
  const { database, cacheStore } = await openStorage(config);
  const services = await createServices(config, overrides, logger, { database, cacheStore: cacheStore.store });
  const { dependencies, httpCaller, eventSink } = services;
  const { server, closeSockets } = createHttpServer(dependencies, {
    metrics: services.metrics,
    checkHealth: createHealthCheck({
      database,
      cacheStore: cacheStore.store,
      providers: services.bootstrapProviders,
      eventSink,
    }),
  });

  return {
    server,
    describe: `${database.describe}, ${cacheStore.describe}`,
    database,
    dependencies,
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => {
          const { port } = server.address() as AddressInfo;
          const host = config.host.includes(':') ? `[${config.host}]` : config.host;
          // The demo agent's tool is served here; only demo mode lets tools call this server.
          if (config.demoMode)
            httpCaller.allowSelf(`http://${/^(0\.0\.0\.0|\[::\])$/.test(host) ? '127.0.0.1' : host}:${port}`);
          resolve({ url: `http://${host}:${port}`, port });
        });
      });
    },
    async close(graceMs = 10_000) {
      // Stop accepting; streams already open keep going while this instance's runs finish.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await dependencies.runs.drain(graceMs);
      // REST callers still reading get a coded last frame, not a cut connection.
      await dependencies.runs.stopAttached(1_000);
      // Whoever still follows a run reconnects elsewhere and resumes from the run log.
      closeSockets();
      server.closeAllConnections();
      await closed;
      await services.stopSweeping?.();
      await dependencies.runs.shutdown();
      dependencies.overload.stop();
      await services.limiter.close();
      await cacheStore.store.close();
      await httpCaller.close();
      if (config.tracing) await tracing.stop();
      await services.models.close();
      await eventSink?.close();
      await database.db.destroy();
    },
  };
}

/** The database, migrated, and the cache store; neither is left open if the other fails. */
async function openStorage(config: Config) {
  const database = createDatabase({ databaseUrl: config.databaseUrl, sqlitePath: config.sqlitePath });
  try {
    await migrateToLatest(database.db);
  } catch (error) {
    await database.db.destroy();
    throw new Error(`Could not prepare the database at ${database.describe}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    return { database, cacheStore: await openCacheStore(config.redisUrl) };
  } catch (error) {
    await database.db.destroy();
    throw error;
  }
}

/**
 * The owner of unsent stream bytes: per stream and in total. A cut is counted and logged; the run
 * it streamed is recorded as any slow consumer's (REST: cancelled; tRPC and WebSocket: it goes on).
 */
function createStreamBudget(config: Config, metrics: Metrics, logger: Logger) {
  metrics.unsentBytesLimit.set(config.streamMaxTotalBufferedBytes);
  const budget = createUnsentBudget({
    perStreamBytes: config.streamMaxBufferedBytes,
    totalBytes: config.streamMaxTotalBufferedBytes,
    onCut: (cut) => {
      metrics.slowConsumerCuts.inc({ transport: cut.transport, limit: cut.limit });
      logger.warn(cut, `slow consumer cut (${cut.limit === 'stream' ? 'its own' : 'the total'} unsent-bytes limit)`);
    },
  });
  metrics.readings.unsentBytes = budget.countedBytes;
  return budget;
}

/** Repositories, the core and the run manager, and what transports are given of them. */
async function createServices(
  config: Config,
  overrides: AppOverrides,
  logger: Logger,
  storage: { database: DatabaseHandle; cacheStore: CacheStore },
) {
  const { database, cacheStore } = storage;
  const secrets = createSecretBox(config.secretsKey);
  const apps = createAppRepository(database.db, secrets);
  const providerStore = createProviderRepository(database.db, secrets);
  const bots = createBotRepository(database.db);
  const runs = createRunRepository(database.db, database.kind);
  const nodeRuns = createNodeRunRepository(database.db);
  if (config.tracing) await tracing.start(config.tracing);
  const httpCaller = traceHttpCalls(createHttpCaller(config.httpTools));
  const bootstrapProviders: Record<string, ProviderSettings> = {
    demo: { type: 'demo', delayMs: config.demoModelDelayMs },
    ...(config.upstream
      ? {
          upstream: {
            type: 'openai-compatible',
            baseUrl: config.upstream.baseUrl,
            apiKey: config.upstream.apiKey,
            defaultModel: config.upstream.model,
          },
        }
      : {}),
    ...overrides.providers,
  };
  if (config.demoMode) await seedDemo({ apps, bots, withUpstreamBot: 'upstream' in bootstrapProviders });
  if (secrets.source === undefined) {
    logger.warn(
      'SECRETS_KEY is not set: app signing secrets are stored in clear and provider API keys cannot be stored',
    );
  } else {
    const sealed = await apps.sealClearSecrets();
    if (sealed > 0) logger.info({ sealed }, 'encrypted app signing secrets stored in clear');
  }
  if (secrets.source === 'demo') {
    logger.warn('SECRETS_KEY is not set: demo mode encrypts stored secrets with a fixed derived key (not secret)');
  }

  const metrics = createMetrics();
  metrics.activeRunsLimit.set(config.limits.activeRunsPerInstance);
  metrics.appConcurrentRunsLimit.set(config.limits.concurrentRunsPerApp);
  metrics.rateLimitPerMinute.set({ scope: 'app' }, config.limits.appPerMinute);
  metrics.rateLimitPerMinute.set({ scope: 'key' }, config.limits.keyPerMinute);
  const cache = createCache(cacheStore, { logger, metrics });
  const outbox = createOutboxRepository(database.db);
  const eventSink: EventSink | undefined = config.eventSinkUrl
    ? await startEventSink({ url: config.eventSinkUrl, outbox, metrics, logger })
    : undefined;
  const models = createModelRegistry({
    bootstrap: bootstrapProviders,
    managed: {
      load: async () =>
        ((await cache.getOrLoad(cacheKeys.providers(), () => providerStore.list())) ?? []).map((stored) =>
          toManagedProvider(stored, secrets),
        ),
    },
    defaults: config.providerDefaults,
    instrument: (model, provider) => instrumentModel(model, provider, metrics),
    retryDelayScale: overrides.retryDelayScale,
    onRetry: (event) =>
      logger.warn(
        { provider: event.provider, attempt: event.attempt, delayMs: event.delayMs, code: event.error.code },
        `model call failed, retrying: ${event.error.message}`,
      ),
  });
  await models.refresh();
  const limiter = config.redisUrl
    ? createRedisLimiter(config.redisUrl, { slotTtlMs: config.runTimeoutMs + 60_000 })
    : createMemoryLimiter();
  const overload = createOverloadGuard({ thresholdMs: config.overloadLagMs, metrics });
  const chat = createChatService({
    admission: createAdmission({ limiter, limits: config.limits, overload }),
    bots,
    runs,
    models,
    retryDelayScale: overrides.retryDelayScale,
    logger,
    observer: createRunObserver({ metrics }),
    events: eventSink,
    cache,
    runTimeoutMs: config.runTimeoutMs,
    nodeRuns,
    http: httpCaller,
    inputAudit: createInputAudit(config.inputPolicy),
  });
  const runLog = config.redisUrl ? createRedisRunLog(config.redisUrl) : createMemoryRunLog();
  const runManager = createRunManager({
    chat,
    runLog,
    logger,
    orphanTimeoutMs: config.orphanTimeoutMs,
    runTimeoutMs: config.runTimeoutMs,
  });
  // Before serving: what a killed process left `running` is closed, so every accepted run has an end.
  const interrupted = { runs, runLog, manager: runManager, logger, runTimeoutMs: config.runTimeoutMs };
  await closeInterruptedRuns(interrupted);
  // Instances sharing a run log also close what another one left when it died, while they run.
  const stopSweeping = runLog.kind === 'redis' ? sweepInterruptedRuns(interrupted) : undefined;
  const dependencies: TransportDependencies = {
    config,
    logger,
    bots,
    authenticator: createAuthenticator({
      apps,
      cache,
      demoMode: config.demoMode,
      trustConsumerHeader: config.trustConsumerHeader,
      signatureWindowSeconds: config.signatureWindowSeconds,
      followTokenTtlSeconds: (config.runTimeoutMs + config.orphanTimeoutMs) / 1000,
    }),
    admin: createAdminService({ apps, bots, cache, providers: providerStore, models, secrets }),
    conversations: createConversationService({ runs }),
    runReads: createRunReads({ runs, nodeRuns }),
    runs: runManager,
    streams: { pingIntervalMs: config.pingIntervalMs, unsent: createStreamBudget(config, metrics, logger) },
    overload,
  };
  return { dependencies, metrics, models, limiter, httpCaller, eventSink, bootstrapProviders, stopSweeping };
}
