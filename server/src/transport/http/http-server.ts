import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { AppError, toAppError } from '../../errors/app-error.ts';
import { tracing } from '../../observability/tracing.ts';
import { sendAstronError } from '../astron/astron.route.ts';
import { sendOpenAIError } from '../openai/openai.route.ts';
import { createRoutes, type Operations } from '../routes.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { createConsoleFiles } from './console-files.ts';
import { createCors } from './cors.ts';
import { refuseUpgrade, requestIdOf } from './http-io.ts';
import { createRouteTable } from './route-table.ts';
import { refuseWebSocket } from '../ws/socket-io.ts';

/**
 * Serves HTTP: every request gets a request id, a metric and a log line, then goes to its route
 * (routes.ts) or to tRPC; upgrades go to their WebSocket endpoint. Never listens by itself.
 */
export function createHttpServer(dependencies: TransportDependencies, operations: Operations) {
  const { logger } = dependencies;
  const { routes: entries, upgrades, trpc } = createRoutes(dependencies, operations);
  const routes = createRouteTable(entries);
  const cors = createCors(dependencies.config.cors);
  const consoleFiles = createConsoleFiles({ directory: dependencies.config.consoleDir });
  /** Paths no route takes are the web console's files, or not found. */
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
    // One check when tracing is off; on, a server span continuing the caller's traceparent.
    const span = tracing.enabled
      ? tracing.startServer(request.method ?? 'GET', request.headers, {
          'http.request.method': request.method ?? 'GET',
          'url.path': path,
          'astron.request_id': requestId,
        })
      : undefined;
    response.on('close', () => {
      const route = isTrpc ? '/trpc' : (entry?.path ?? 'unmatched');
      span?.end(route, response.statusCode);
      const durationMs = performance.now() - startedAt;
      operations.metrics.httpRequestDuration.observe(
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
    const dispatch = () => {
      const onError = entry?.onError ?? (path.startsWith('/v1/') ? sendOpenAIError : sendAstronError);
      try {
        if (cors.apply(request, response)) return;
      } catch (error) {
        onError(response, toAppError(error), requestId);
        return;
      }
      if (isTrpc) {
        trpc.serve(request, response, path, requestId);
        return;
      }
      const handle = entry?.route ?? consoleOrNotFound;
      handle(request, response, requestId, match?.params ?? []).catch((error: unknown) => {
        const appError = toAppError(error);
        if (appError.errorName === 'UNKNOWN_ERROR') logger.error({ err: error, requestId, path }, 'request failed');
        if (!response.headersSent) onError(response, appError, requestId);
        else response.end();
      });
    };
    if (span) span.run(dispatch);
    else dispatch();
  });

  server.on('upgrade', (request: IncomingMessage, socket, head: Buffer) => {
    const path = (request.url ?? '/').split('?', 1)[0];
    const upgrade = upgrades.find((candidate) => candidate.path === path);
    // Overloaded: a coded close at once, rather than a handshake that times out in the queue.
    const overloaded = upgrade && dependencies.overload.refusal('websocket', upgrade.transport);
    const refused = cors.refuseUpgrade(request);
    if (overloaded) refuseWebSocket(request, socket, head, overloaded);
    else if (refused) refuseUpgrade(socket, refused);
    else if (upgrade) upgrade.handleUpgrade(request, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });

  return {
    server,
    /** Ends every open WebSocket; their clients reconnect elsewhere and resume from the run log. */
    closeSockets: () => {
      for (const upgrade of upgrades) upgrade.close();
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
