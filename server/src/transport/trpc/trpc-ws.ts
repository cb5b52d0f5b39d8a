import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { isTrackedEnvelope, TRPCError, type TRPCProcedureType } from '@trpc/server';
import { parseConnectionParamsFromUnknown } from '@trpc/server/http';
import { parseTRPCMessage, type TRPCClientOutgoingMessage } from '@trpc/server/rpc';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { tracing } from '../../observability/tracing.ts';
import type { StreamSettings } from '../transport-dependencies.ts';
import { openSocketIo } from '../ws/socket-io.ts';
import type { TrpcContextFactory } from './trpc-context.ts';
import { withLastEventId, type TrpcProcedures } from './trpc-procedures.ts';

type RequestId = string | number;

/**
 * tRPC over WebSocket (`wsLink`), framed here rather than by tRPC's ws adapter: the same messages,
 * a bounded send buffer (a reader that lets more than STREAM_MAX_BUFFERED_BYTES pile up is closed
 * with 4008 and resumes by `lastEventId` when it reconnects), and one write per value instead of a
 * promise race per value (see docs/decisions/2026-11-25-trpc-ws-framing.md).
 *
 * The messages, as tRPC's adapter exchanges them: with `?connectionParams=1` the first message is
 * `{method: "connectionParams", data}`; then requests `{id, method, params: {path, input,
 * lastEventId?}}` (alone or in an array) and `{id, method: "subscription.stop"}`. Answers are
 * `{id, result: {type: "data", data}}`; a subscription also gets `started`, one `data` per value
 * (with the `tracked` id as `result.id`) and `stopped`; an error is `{id, error}`. "PING" gets
 * "PONG"; `{id: null, method: "reconnect"}` asks every client to reconnect (shutdown).
 */
export function createTrpcWebSocket(options: {
  procedures: TrpcProcedures;
  createContext: TrpcContextFactory;
  streams: StreamSettings;
  maxBodyBytes: number;
  logger: Logger;
}) {
  const { procedures, createContext, streams, logger } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxBodyBytes });

  function onConnection(socket: WebSocket, request: IncomingMessage) {
    const subscriptions = new Map<RequestId, AbortController>();
    const expectsParams = new URL(request.url ?? '/', 'http://localhost').searchParams.get('connectionParams') === '1';
    let ctx = expectsParams ? undefined : createContext({ req: request, info: { connectionParams: null } });

    const { send, stop } = openSocketIo(socket, streams, 'trpc');
    const respond = (id: RequestId | null, jsonrpc: '2.0' | undefined, body: string) =>
      send(`{"id":${JSON.stringify(id)}${jsonrpc ? ',"jsonrpc":"2.0"' : ''},${body}}`);
    const respondError = (
      id: RequestId | null,
      jsonrpc: '2.0' | undefined,
      failure: { cause: unknown; input?: unknown; path?: string; type?: TRPCProcedureType },
    ) =>
      respond(
        id,
        jsonrpc,
        `"error":${procedures.serialize(
          procedures.errorShape({
            cause: failure.cause,
            ctx,
            input: failure.input,
            path: failure.path,
            type: failure.type ?? 'unknown',
          }),
        )}`,
      );

    async function handle(message: TRPCClientOutgoingMessage) {
      const { id, jsonrpc } = message;
      if (id === null) {
        respondError(id, jsonrpc, { cause: new TRPCError({ code: 'PARSE_ERROR', message: '`id` is required' }) });
        return;
      }
      if (message.method === 'subscription.stop') {
        subscriptions.get(id)?.abort();
        return;
      }
      const { path } = message.params;
      const type = message.method;
      const input = withLastEventId(message.params.input, message.params.lastEventId);
      if (type === 'subscription' && subscriptions.has(id)) {
        respondError(id, jsonrpc, {
          cause: new TRPCError({ code: 'BAD_REQUEST', message: `Duplicate id ${id}` }),
          input,
          path,
          type,
        });
        return;
      }
      const controller = new AbortController();
      if (type === 'subscription') subscriptions.set(id, controller);
      try {
        const result = await procedures.call({ path, type, input, ctx: ctx!, signal: controller.signal });
        if (type !== 'subscription') {
          respond(id, jsonrpc, `"result":{"type":"data","data":${procedures.serialize(result)}}`);
          return;
        }
        if (!isAsyncIterable(result)) {
          throw new TRPCError({
            code: 'INTERNAL_SERVER_ERROR',
            message: `Subscription ${path} did not return an async iterable`,
          });
        }
        if (!respond(id, jsonrpc, '"result":{"type":"started"}')) return;
        for await (const value of result) {
          const sent = isTrackedEnvelope(value)
            ? respond(
                id,
                jsonrpc,
                `"result":{"type":"data","id":${JSON.stringify(value[0])},"data":${procedures.serialize({ id: value[0], data: value[1] })}}`,
              )
            : respond(id, jsonrpc, `"result":{"type":"data","data":${procedures.serialize(value)}}`);
          if (!sent || controller.signal.aborted) break;
        }
        respond(id, jsonrpc, '"result":{"type":"stopped"}');
      } catch (cause) {
        if (socket.readyState !== socket.OPEN) return;
        respondError(id, jsonrpc, { cause, input, path, type });
      } finally {
        if (subscriptions.get(id) === controller) subscriptions.delete(id);
      }
    }

    socket.on('message', (data: RawData, isBinary: boolean) => {
      const text = isBinary ? undefined : (data as Buffer).toString('utf8');
      if (text === 'PING') {
        socket.send('PONG');
        return;
      }
      if (text === 'PONG') return;
      let json: unknown;
      try {
        if (text === undefined) throw new Error('tRPC messages are JSON text frames.');
        json = JSON.parse(text);
      } catch (cause) {
        respondError(null, undefined, {
          cause: new TRPCError({ code: 'PARSE_ERROR', message: 'Messages must be JSON text.', cause }),
        });
        return;
      }
      if (!ctx) {
        // With `?connectionParams=1`, the first message carries them: `{method: "connectionParams", data}`.
        try {
          const connectionParams = parseConnectionParamsFromUnknown((json as { data?: unknown } | null)?.data);
          ctx = createContext({ req: request, info: { connectionParams } });
        } catch (cause) {
          respondError(null, undefined, {
            cause: new TRPCError({ code: 'PARSE_ERROR', message: 'Malformed connectionParams message.', cause }),
          });
          socket.close();
        }
        return;
      }
      for (const raw of Array.isArray(json) ? json : [json]) {
        let message: TRPCClientOutgoingMessage;
        try {
          message = parseTRPCMessage(raw, procedures.transformer);
        } catch (cause) {
          const id = (raw as { id?: unknown } | null)?.id;
          respondError(typeof id === 'string' || typeof id === 'number' ? id : null, undefined, {
            cause: new TRPCError({ code: 'PARSE_ERROR', message: 'Not a tRPC message.', cause }),
          });
          continue;
        }
        // With tracing on, a server span per request message, continuing the upgrade's traceparent.
        const span =
          tracing.enabled && message.method !== 'subscription.stop'
            ? tracing.startServer('ws.message', request.headers, {
                'rpc.system': 'trpc',
                'rpc.method': message.params.path,
                'network.protocol.name': 'websocket',
              })
            : undefined;
        const handled = span ? span.run(() => handle(message)).finally(() => span.end('/trpc')) : handle(message);
        handled.catch((error: unknown) => logger.error({ err: error }, 'tRPC WebSocket request failed'));
      }
    });

    socket.on('close', () => {
      stop();
      for (const controller of subscriptions.values()) controller.abort();
      subscriptions.clear();
    });
    socket.on('error', (error) => logger.warn({ err: error }, 'tRPC WebSocket error'));
  }

  return {
    handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
      wss.handleUpgrade(request, socket, head, (webSocket) => onConnection(webSocket, request));
    },
    /** Asks every client to reconnect (they resume elsewhere by `lastEventId`), then closes the sockets. */
    close() {
      const reconnect = '{"id":null,"method":"reconnect"}';
      for (const client of wss.clients) if (client.readyState === client.OPEN) client.send(reconnect);
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
