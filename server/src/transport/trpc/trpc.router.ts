import type { IncomingMessage } from 'node:http';
import { astronChatRequestSchema, errorTable } from '@astron-chat/shared';
import { initTRPC, tracked, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { z } from 'zod';
import { AppError, toAppError } from '../../errors/app-error.ts';
import type { Caller, Credentials, SignatureInput } from '../../auth/authenticator.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { credentialsFromHeaders, requestIdOf } from '../http/http-io.ts';
import { fromAstronRequest } from '../astron/astron-frames.ts';

/** Per request (HTTP) or per connection (WebSocket): what the caller presented, not yet checked. */
export type TrpcContext = {
  requestId: string;
  credentials: Credentials;
  signature: SignatureInput | undefined;
};

const connectionParamsSchema = z
  .object({
    apiKey: z.string().optional(),
    appid: z.string().optional(),
    ts: z.union([z.string(), z.number()]).optional(),
    signa: z.string().optional(),
  })
  .nullable();

/** Builds the context from headers and `connectionParams` (`{apiKey}` or `{appid, ts, signa}`). */
export function createTrpcContext(options: {
  req: IncomingMessage;
  info: { connectionParams: Record<string, string | undefined> | null };
}): TrpcContext {
  const fromHeaders = credentialsFromHeaders(options.req.headers);
  const params = connectionParamsSchema.safeParse(options.info.connectionParams);
  const connection = params.success ? params.data : null;
  return {
    requestId: requestIdOf(options.req.headers),
    credentials: { apiKey: connection?.apiKey ?? fromHeaders.apiKey, consumer: fromHeaders.consumer },
    signature: connection?.appid
      ? {
          appid: connection.appid,
          ts: connection.ts === undefined ? '' : String(connection.ts),
          signa: connection.signa ?? '',
        }
      : undefined,
  };
}

export function toTrpcError(error: unknown): TRPCError {
  if (error instanceof TRPCError) return error;
  const appError = toAppError(error);
  return new TRPCError({ code: errorTable[appError.errorName].trpcCode, message: appError.message, cause: appError });
}

/** `chat.completions` input: the Astron body, plus `lastEventId` that tRPC adds on reconnect. */
const completionsInputSchema = astronChatRequestSchema.and(z.object({ lastEventId: z.string().nullish() }));

export function createAppRouter(dependencies: TransportDependencies) {
  const { authenticator, chat, config } = dependencies;
  const t = initTRPC.context<TrpcContext>().create({
    transformer: superjson,
    sse: {
      ping: { enabled: true, intervalMs: config.pingIntervalMs },
      client: { reconnectAfterInactivityMs: config.pingIntervalMs * 2 },
    },
    errorFormatter({ shape, error }) {
      const cause = error.cause instanceof AppError ? error.cause : undefined;
      const code =
        cause?.code ??
        (error.code === 'BAD_REQUEST' ? errorTable.VALIDATION_ERROR.code : errorTable.UNKNOWN_ERROR.code);
      // Never a stack, whatever the mode.
      const { stack: _stack, ...data } = shape.data;
      return { ...shape, data: { ...data, appCode: code, ...(cause?.param ? { param: cause.param } : {}) } };
    },
  });

  const authed = t.procedure.use(async ({ ctx, next }) => {
    let caller: Caller;
    try {
      caller =
        ctx.signature && !ctx.credentials.apiKey
          ? await authenticator.verifySignature(ctx.signature)
          : await authenticator.authenticate(ctx.credentials);
    } catch (error) {
      throw toTrpcError(error);
    }
    return next({ ctx: { ...ctx, caller } });
  });

  return t.router({
    chat: t.router({
      /** Streams one run as typed `ChatEvent`s; each is `tracked` by `runId:seq`. */
      completions: authed.input(completionsInputSchema).subscription(async function* ({ input, ctx, signal }) {
        if (input.lastEventId) {
          throw toTrpcError(
            new AppError('NOT_FOUND', 'This run cannot be resumed on this server; start a new request.', {
              param: 'lastEventId',
            }),
          );
        }
        const events = chat.runChat(
          fromAstronRequest(input),
          { appId: ctx.caller.appId, apiKeyId: ctx.caller.apiKeyId, requestId: ctx.requestId, transport: 'trpc' },
          signal ?? new AbortController().signal,
        );
        let runId = '';
        try {
          for await (const event of events) {
            if (event.type === 'run-start') runId = event.runId;
            yield tracked(`${runId}:${event.seq}`, event);
          }
        } catch (error) {
          const trpcError = toTrpcError(error);
          // httpSubscriptionLink reconnects after INTERNAL_SERVER_ERROR, which would start the run
          // again; such errors travel in-band as the stream's final event instead.
          if (trpcError.code !== 'INTERNAL_SERVER_ERROR') throw trpcError;
          const appError = toAppError(error);
          yield tracked(`${runId}:error`, {
            type: 'error' as const,
            seq: 0,
            code: appError.code,
            message: appError.message,
            retryable: appError.retryable,
          });
        }
      }),
    }),
  });
}

export type AppRouter = ReturnType<typeof createAppRouter>;
