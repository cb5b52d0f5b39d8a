import type { IncomingMessage, ServerResponse } from 'node:http';
import { isTrackedEnvelope, TRPCError } from '@trpc/server';
import { parseConnectionParamsFromString } from '@trpc/server/http';
import { firstHeader } from '../http/http-io.ts';
import { openSseStream, sseFrame } from '../http/sse-writer.ts';
import { AppError } from '../../errors/app-error.ts';
import type { StreamSettings } from '../transport-dependencies.ts';
import { toTrpcError, type TrpcContext, type TrpcContextFactory } from './trpc-context.ts';
import { withLastEventId, type TrpcProcedures } from './trpc-procedures.ts';

const PING_FRAME = sseFrame({ event: 'ping', data: '' });
const RETURN_FRAME = sseFrame({ event: 'return', data: '' });

/**
 * tRPC subscriptions over SSE (`httpSubscriptionLink`), framed by our SSE writer rather than by
 * tRPC's fetch adapter: the same wire format, about a third of the CPU and memory per stream (see
 * docs/decisions/2026-11-26-trpc-sse-framing.md). tRPC still does the rest: the procedure, its middlewares and
 * input parsing (`callTRPCProcedure`), the error shape and our error formatter (`getTRPCErrorShape`).
 *
 * The frames, as tRPC's own producer writes them: `event: connected` with the client options, one
 * `data:` frame per value (`id:` for tracked ones), `event: serialized-error` for an error (before
 * or during the stream, like tRPC: the response is 200 either way), `event: return` at the end and
 * `event: ping` after a silence.
 */
export function createTrpcSseHandler(options: {
  procedures: TrpcProcedures;
  createContext: TrpcContextFactory;
  settings: StreamSettings;
}) {
  const { procedures, createContext, settings } = options;
  const connectedFrame = sseFrame({ event: 'connected', data: JSON.stringify(procedures.sseClientOptions) });
  const { serialize } = procedures;

  return {
    /** A subscription asked for with another method than GET: 405, code 1001. */
    refuse(request: IncomingMessage, response: ServerResponse, procedurePath: string) {
      const cause = new TRPCError({
        code: 'METHOD_NOT_SUPPORTED',
        message: `${procedurePath} is a subscription: open it with GET (SSE, httpSubscriptionLink) or over the WebSocket, not ${request.method ?? 'this method'}.`,
      });
      const shape = procedures.errorShape({
        cause,
        ctx: undefined,
        input: undefined,
        path: procedurePath,
        type: 'subscription',
      });
      response.writeHead(405, { 'content-type': 'application/json', allow: 'GET' });
      response.end(`{"error":${serialize(shape)}}`);
    },

    async serve(request: IncomingMessage, response: ServerResponse, procedurePath: string, query: URLSearchParams) {
      const controller = new AbortController();
      response.on('close', () => controller.abort());
      const stream = openSseStream(response, settings, PING_FRAME, 'trpc');
      stream.frame(connectedFrame);
      let ctx: TrpcContext | undefined;
      let input: unknown;
      try {
        const connectionParams = query.get('connectionParams');
        const params = connectionParams ? parseConnectionParamsFromString(connectionParams) : null;
        refuseCredentialsInUrl(params);
        ctx = createContext({ req: request, info: { connectionParams: params } });
        input = readInput(query, request.headers['last-event-id'], procedures.deserialize);
        const iterable = (await procedures.call({
          path: procedurePath,
          type: 'subscription',
          input,
          ctx,
          signal: controller.signal,
        })) as AsyncIterable<unknown>;
        for await (const value of iterable) {
          if (isTrackedEnvelope(value)) stream.message({ data: serialize(value[1]), id: value[0] });
          else stream.data(serialize(value));
        }
        stream.frame(RETURN_FRAME);
      } catch (cause) {
        if (controller.signal.aborted) return;
        const shape = procedures.errorShape({ cause, ctx, input, path: procedurePath, type: 'subscription' });
        stream.message({ event: 'serialized-error', data: serialize(shape) });
      } finally {
        stream.end();
      }
    },
  };
}
export type TrpcSseHandler = ReturnType<typeof createTrpcSseHandler>;

/**
 * A key or signature in `?connectionParams=` would sit in every access log and proxy log on the way:
 * refused, with what to do instead (docs/decisions/2026-12-03-safe-retries-honest-failures.md).
 */
function refuseCredentialsInUrl(params: Record<string, unknown> | null): void {
  if (!params || !['apiKey', 'signa'].some((name) => params[name] !== undefined)) return;
  throw toTrpcError(
    new AppError(
      'AUTHENTICATION_ERROR',
      'Credentials in the URL (connectionParams) are refused: URLs are written to access logs. Send the key as ' +
        'the header "authorization: Bearer <key>" (httpSubscriptionLink: an EventSource ponyfill with a fetch ' +
        'that sets it; @astron-chat/client does), or use the WebSocket, whose connectionParams are a message.',
      { param: 'connectionParams' },
    ),
  );
}

/** `?input=` (JSON, then the transformer), with the reconnecting client's last event id merged in as tRPC does. */
function readInput(
  query: URLSearchParams,
  lastEventIdHeader: string | string[] | undefined,
  deserialize: (value: unknown) => unknown,
): unknown {
  const raw = query.get('input');
  let input: unknown;
  try {
    input = raw === null ? undefined : deserialize(JSON.parse(raw));
  } catch (cause) {
    throw new TRPCError({ code: 'PARSE_ERROR', message: 'The input query parameter is not valid JSON.', cause });
  }
  return withLastEventId(
    input,
    firstHeader(lastEventIdHeader) ?? query.get('lastEventId') ?? query.get('Last-Event-Id'),
  );
}
