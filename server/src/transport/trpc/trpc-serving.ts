import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { createAppRouter, createTrpcContext } from './trpc.router.ts';
import { createTrpcProcedures } from './trpc-procedures.ts';
import { createTrpcSseHandler } from './trpc-sse.ts';
import { createTrpcWebSocket } from './trpc-ws.ts';

/**
 * tRPC on our server: subscriptions over SSE and every call over WebSocket in our own framing
 * (trpc-sse.ts, trpc-ws.ts), queries and mutations over HTTP by tRPC's standalone handler.
 */
export function createTrpcServing(dependencies: TransportDependencies) {
  const { config, logger, streams } = dependencies;
  const router = createAppRouter(dependencies);
  const httpHandler = createHTTPHandler({ router, createContext: createTrpcContext, basePath: '/trpc/' });
  const procedures = createTrpcProcedures(router);
  const sse = createTrpcSseHandler({ procedures, createContext: createTrpcContext, settings: streams });
  const webSocket = createTrpcWebSocket({
    procedures,
    createContext: createTrpcContext,
    streams,
    maxBodyBytes: config.maxBodyBytes,
    logger,
  });

  return {
    /** Every procedure, for the OpenAPI document. */
    procedures: procedures.list(),
    /** `path` is the request's path without its query, under `/trpc`. */
    serve(request: IncomingMessage, response: ServerResponse, path: string, requestId: string) {
      const procedurePath = path.slice('/trpc/'.length);
      if (procedures.typeOf(procedurePath) !== 'subscription') {
        httpHandler(request, response);
        return;
      }
      // Any other method to a subscription is refused (405, code 1001): tRPC's own handler would
      // stream it past our framing and limits.
      if (request.method !== 'GET') {
        sse.refuse(request, response, procedurePath);
        return;
      }
      const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
      sse.serve(request, response, procedurePath, query).catch((error: unknown) => {
        logger.error({ err: error, requestId, path }, 'tRPC subscription failed');
        response.destroy();
      });
    },
    handleUpgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      webSocket.handleUpgrade(request, socket, head);
    },
    closeSockets: () => webSocket.close(),
  };
}
