import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Logger } from 'pino';
import { createAdminService } from './admin/admin.service.ts';
import { createAuthenticator } from './auth/authenticator.ts';
import { createChatService } from './chat/run-chat.ts';
import { createAdmission } from './chat/admission.ts';
import { createMemoryLimiter, createRedisLimiter } from './cache/rate-limiter.ts';
import { createConversationService } from './chat/conversations.ts';
import type { Config } from './config/config.ts';
import { AppError, toAppError } from './errors/app-error.ts';
import { createLogger } from './lib/logger.ts';
import { cacheKeys, createCache } from './cache/cache.ts';
import { openCacheStore } from './cache/open-cache-store.ts';
import { createHealthCheck } from './observability/health.ts';
import { createHealthRoutes } from './transport/http/health.route.ts';
import { createMetrics } from './observability/metrics.ts';
import { instrumentModel } from './observability/model-calls.ts';
import { createRunObserver } from './observability/run-observer.ts';
import { startEventSink, type EventSink } from './observability/event-sink.ts';
import { createOutboxRepository } from './store/outbox.repository.ts';
import { createMemoryRunLog } from './run-log/memory-run-log.ts';
import { createRedisRunLog } from './run-log/redis-run-log.ts';
import { createRunManager } from './runs/run-manager.ts';
import { closeInterruptedRuns } from './runs/interrupted-runs.ts';
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
import { createRunReadRoute } from './transport/astron/run-read.route.ts';
import { createRunStreamRoute } from './transport/astron/run-stream.route.ts';
import { handleCalculator } from './transport/tools/calculator.route.ts';
import { createAstronRoute, sendAstronError } from './transport/astron/astron.route.ts';
import { requestIdOf } from './transport/http/http-io.ts';
import { createRouteTable } from './transport/http/route-table.ts';
import { createConsoleFiles } from './transport/http/console-files.ts';
import { createAstronReadRoutes } from './transport/astron/astron-reads.route.ts';
import { createOpenAIRoutes, sendOpenAIError } from './transport/openai/openai.route.ts';
import { createAppRouter, createTrpcContext } from './transport/trpc/trpc.router.ts';
import { createTrpcProcedures } from './transport/trpc/trpc-procedures.ts';
import { createTrpcSseHandler } from './transport/trpc/trpc-sse.ts';
import { createTrpcWebSocket } from './transport/trpc/trpc-ws.ts';
import type { TransportDependencies } from './transport/transport-dependencies.ts';
import { createAstronWebSocket } from './transport/ws/astron-ws.ts';

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

/** Wires the service. Never listens by itself: call `listen()`. */
export async function createApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const logger = overrides.logger ?? createLogger(config.logLevel, config.logFile);
  const database = createDatabase({ databaseUrl: config.databaseUrl, sqlitePath: config.sqlitePath });
  try {
    await migrateToLatest(database.db);
  } catch (error) {
    await database.db.destroy();
    throw new Error(`Could not prepare the database at ${database.describe}: ${(error as Error).message}`, {
      cause: error,
    });
  }

  let cacheStore: Awaited<ReturnType<typeof openCacheStore>>;
  try {
    cacheStore = await openCacheStore(config.redisUrl);
  } catch (error) {
    await database.db.destroy();
    throw error;
  }

  const secrets = createSecretBox(config.secretsKey);
  const apps = createAppRepository(database.db, secrets);
  const providerStore = createProviderRepository(database.db, secrets);
  const bots = createBotRepository(database.db);
  const runs = createRunRepository(database.db, database.kind);
  const nodeRuns = createNodeRunRepository(database.db);
  const httpCaller = createHttpCaller(config.httpTools);
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
  const cache = createCache(cacheStore.store, { logger, metrics });
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
  const chat = createChatService({
    admission: createAdmission({ limiter, limits: config.limits }),
    bots,
    runs,
    models,
    retryDelayScale: overrides.retryDelayScale,
    logger,
    observer: createRunObserver({ metrics, logger }),
    events: eventSink ? { add: outbox.add, nudge: () => eventSink.nudge() } : undefined,
    cache,
    runTimeoutMs: config.runTimeoutMs,
    nodeRuns,
    http: httpCaller,
    inputAudit: createInputAudit(config.inputPolicy),
  });
  const runLog = config.redisUrl ? createRedisRunLog(config.redisUrl) : createMemoryRunLog();
  const runManager = createRunManager({ chat, runLog, logger, orphanTimeoutMs: config.orphanTimeoutMs });
  // Before serving: what a killed process left `running` is closed, so every accepted run has an end.
  await closeInterruptedRuns({ runs, runLog, manager: runManager, logger, runTimeoutMs: config.runTimeoutMs });
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
    }),
    admin: createAdminService({ apps, bots, cache, providers: providerStore, models, secrets }),
    conversations: createConversationService({ runs }),
    runReads: createRunReads({ runs, nodeRuns }),
    runs: runManager,
  };

  const router = createAppRouter(dependencies);
  const trpcHandler = createHTTPHandler({ router, createContext: createTrpcContext, basePath: '/trpc/' });
  const procedures = createTrpcProcedures(router);
  const trpcSse = createTrpcSseHandler({ procedures, createContext: createTrpcContext, settings: config });
  const trpcWebSocket = createTrpcWebSocket({ procedures, createContext: createTrpcContext, settings: config, logger });
  const astronSocket = createAstronWebSocket(dependencies);
  const astron = createAstronRoute(dependencies);
  const openai = createOpenAIRoutes(dependencies);

  const health = createHealthRoutes({
    checkHealth: createHealthCheck({
      database,
      cacheStore: cacheStore.store,
      providers: bootstrapProviders,
      eventSink,
    }),
    demoMode: config.demoMode,
  });

  const astronReads = createAstronReadRoutes(dependencies);
  const routes = createRouteTable([
    { method: 'POST', path: '/agent/v1/chat/completions', route: astron, onError: sendAstronError },
    {
      method: 'GET',
      path: '/agent/v1/chats/{chat_id}/messages',
      route: (request, response, _requestId, [chatId = '']) => astronReads.handleMessages(request, response, chatId),
      onError: sendAstronError,
    },
    { method: 'GET', path: '/agent/v1/usage', route: astronReads.handleUsage, onError: sendAstronError },
    { method: 'GET', path: '/agent/v1/chats', route: astronReads.handleChats, onError: sendAstronError },
    { method: 'GET', path: '/agent/v1/runs', route: astronReads.handleRuns, onError: sendAstronError },
    {
      method: 'GET',
      path: '/agent/v1/runs/{run_id}',
      route: createRunReadRoute(dependencies),
      onError: sendAstronError,
    },
    {
      method: 'GET',
      path: '/agent/v1/runs/{run_id}/stream',
      route: createRunStreamRoute(dependencies),
      onError: sendAstronError,
    },
    { method: 'POST', path: '/tools/calculator', route: handleCalculator, onError: sendAstronError },
    { method: 'POST', path: '/v1/chat/completions', route: openai.handleCompletion, onError: sendOpenAIError },
    { method: 'GET', path: '/v1/models', route: openai.handleModels, onError: sendOpenAIError },
    { method: 'GET', path: '/v1/models/{model_id}', route: openai.handleModel, onError: sendOpenAIError },
    { method: 'GET', path: '/health', route: health.health, onError: sendAstronError },
    { method: 'GET', path: '/health/live', route: health.live, onError: sendAstronError },
    { method: 'GET', path: '/health/ready', route: health.ready, onError: sendAstronError },
    {
      method: 'GET',
      path: '/metrics',
      route: async (_request, response) => {
        const text = await metrics.registry.metrics();
        response.writeHead(200, { 'content-type': metrics.registry.contentType });
        response.end(text);
      },
      onError: sendAstronError,
    },
  ]);

  const consoleFiles = createConsoleFiles({ directory: config.consoleDir });
  async function consoleOrNotFound(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (!(await consoleFiles.serve(request, response, (request.url ?? '/').split('?', 1)[0] ?? '/'))) {
      await notFound(request);
    }
  }

  const server = createServer({ keepAliveTimeout: 65_000 }, (request, response) => {
    const startedAt = performance.now();
    const requestId = requestIdOf(request.headers);
    response.setHeader('x-request-id', requestId);
    const path = (request.url ?? '/').split('?', 1)[0] ?? '/';
    const isTrpc = path === '/trpc' || path.startsWith('/trpc/');
    const match = isTrpc ? undefined : routes.match(request.method ?? 'GET', path);
    const entry = match?.entry;
    response.on('close', () => {
      const route = isTrpc ? '/trpc' : (entry?.path ?? 'unmatched');
      const durationMs = performance.now() - startedAt;
      metrics.httpRequestDuration.observe(
        { method: request.method ?? 'GET', route, status: response.statusCode },
        durationMs / 1000,
      );
      logger.info(
        {
          requestId,
          method: request.method,
          path,
          status: response.statusCode,
          durationMs: round(durationMs),
        },
        'request',
      );
    });
    if (isTrpc) {
      const procedurePath = path.slice('/trpc/'.length);
      if (trpcSse.refuses(request.method, procedurePath)) trpcSse.refuse(request, response, procedurePath);
      else if (trpcSse.handles(request.method, procedurePath)) {
        const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
        trpcSse.serve(request, response, procedurePath, query).catch((error: unknown) => {
          logger.error({ err: error, requestId, path }, 'tRPC subscription failed');
          response.destroy();
        });
      } else trpcHandler(request, response);
      return;
    }
    const onError = entry?.onError ?? (path.startsWith('/v1/') ? sendOpenAIError : sendAstronError);
    const handle = entry?.route ?? consoleOrNotFound;
    handle(request, response, requestId, match?.params ?? []).catch((error: unknown) => {
      const appError = toAppError(error);
      if (appError.errorName === 'UNKNOWN_ERROR') logger.error({ err: error, requestId, path }, 'request failed');
      if (!response.headersSent) onError(response, appError, requestId);
      else response.end();
    });
  });

  server.on('upgrade', (request: IncomingMessage, socket, head) => {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (path === '/agent/v1/ws') {
      astronSocket.handleUpgrade(request, socket, head).catch((error: unknown) => {
        logger.error({ err: error }, 'websocket upgrade failed');
        socket.destroy();
      });
    } else if (path === '/trpc' || path === '/trpc/') {
      trpcWebSocket.handleUpgrade(request, socket, head);
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    }
  });

  return {
    server,
    describe: `${database.describe}, ${cacheStore.describe}`,
    database,
    dependencies,
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
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
      trpcWebSocket.close();
      astronSocket.close();
      server.closeAllConnections();
      await closed;
      await dependencies.runs.shutdown();
      await limiter.close();
      await cacheStore.store.close();
      await httpCaller.close();
      await models.close();
      await eventSink?.close();
      await database.db.destroy();
    },
  };
}

function notFound(request: IncomingMessage): Promise<void> {
  return Promise.reject(
    new AppError('NOT_FOUND', `No route for ${request.method} ${(request.url ?? '/').split('?', 1)[0]}.`),
  );
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
