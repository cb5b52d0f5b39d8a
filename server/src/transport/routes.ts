import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HealthReport } from '../observability/health.ts';
import type { Metrics } from '../observability/metrics.ts';
import { createAstronReadRoutes } from './astron/astron-reads.route.ts';
import { createAstronRoute, sendAstronError } from './astron/astron.route.ts';
import { createRunReadRoute } from './astron/run-read.route.ts';
import { createRunStreamRoute } from './astron/run-stream.route.ts';
import { createDocsRoutes } from './http/docs.route.ts';
import { createHealthRoutes } from './http/health.route.ts';
import { createOpenApiDocument } from './http/openapi.ts';
import type { RouteEntry } from './http/route-table.ts';
import { createOpenAIRoutes, sendOpenAIError } from './openai/openai.route.ts';
import { handleCalculator } from './tools/calculator.route.ts';
import type { TransportDependencies } from './transport-dependencies.ts';
import { createTrpcServing } from './trpc/trpc-serving.ts';
import { createAstronWebSocket } from './ws/astron-ws.ts';

/** The API version the OpenAPI document states (the server package's). */
const SERVER_VERSION = '0.1.0';

/** What the operations routes read: the health check and the metrics registry. */
export type Operations = { checkHealth: () => Promise<HealthReport>; metrics: Metrics };

/** A WebSocket endpoint: takes over the upgraded socket; `close` ends its open sockets. */
export type UpgradeEntry = {
  path: string;
  /** Labels its refusals in the metrics, as runs are labelled. */
  transport: 'trpc' | 'ws';
  handleUpgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
  close: () => void;
};

/**
 * Every endpoint of the server, one line each. A new transport is a folder in transport/ with its
 * framer, and its line here (docs/extending.md). tRPC (`/trpc/…`) has a line of its own in
 * http-server.ts: its paths are the router's.
 */
export function createRoutes(dependencies: TransportDependencies, operations: Operations) {
  const astronReads = createAstronReadRoutes(dependencies);
  const openai = createOpenAIRoutes(dependencies);
  const trpc = createTrpcServing(dependencies);
  const astronSocket = createAstronWebSocket(dependencies);
  const health = createHealthRoutes({ checkHealth: operations.checkHealth, demoMode: dependencies.config.demoMode });
  let openApiText = '';
  const docs = createDocsRoutes({ demoMode: dependencies.config.demoMode, openApiText: () => openApiText });

  const routes: RouteEntry[] = [
    {
      method: 'POST',
      path: '/agent/v1/chat/completions',
      route: createAstronRoute(dependencies),
      onError: sendAstronError,
    },
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
    { method: 'GET', path: '/metrics', route: metricsRoute(operations), onError: sendAstronError },
    { method: 'GET', path: '/openapi.json', route: docs.handleOpenApi, onError: sendAstronError },
    { method: 'GET', path: '/docs', route: docs.handlePage, onError: sendAstronError },
    { method: 'GET', path: '/docs/{file}', route: docs.handleFile, onError: sendAstronError },
  ];
  // From this very table: a route without documentation stops the server here (openapi.ts).
  openApiText = JSON.stringify(createOpenApiDocument({ routes, procedures: trpc.procedures, version: SERVER_VERSION }));
  const upgrades: UpgradeEntry[] = [
    { path: '/trpc', transport: 'trpc', handleUpgrade: trpc.handleUpgrade, close: trpc.closeSockets },
    { path: '/trpc/', transport: 'trpc', handleUpgrade: trpc.handleUpgrade, close: () => undefined },
    {
      path: '/agent/v1/ws',
      transport: 'ws',
      handleUpgrade: (request, socket, head) =>
        void astronSocket.handleUpgrade(request, socket, head).catch((error: unknown) => {
          dependencies.logger.error({ err: error }, 'websocket upgrade failed');
          socket.destroy();
        }),
      close: () => astronSocket.close(),
    },
  ];
  return { routes, upgrades, trpc };
}

function metricsRoute({ metrics }: Operations) {
  return async (_request: IncomingMessage, response: ServerResponse) => {
    const text = await metrics.registry.metrics();
    response.writeHead(200, { 'content-type': metrics.registry.contentType });
    response.end(text);
  };
}
