import { errorTable } from '@astron-chat/shared';
import { initTRPC } from '@trpc/server';
import { z } from 'zod';
import { AppError, fromZodError } from '../../errors/app-error.ts';
import { safeEqual, type Caller } from '../../auth/authenticator.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { toTrpcError, type TrpcContext } from './trpc-context.ts';
import { transformer } from './transformer.ts';

/**
 * Codes for errors tRPC raises before any resolver runs: input it could not parse or that fails the
 * schema (1001), a procedure that does not exist (1008), a query sent as a mutation or a `POST` to a
 * subscription (1001: the request is wrong, not the server).
 */
const CALLER_MISTAKES: Partial<Record<string, number>> = {
  PARSE_ERROR: errorTable.VALIDATION_ERROR.code,
  BAD_REQUEST: errorTable.VALIDATION_ERROR.code,
  METHOD_NOT_SUPPORTED: errorTable.VALIDATION_ERROR.code,
  NOT_FOUND: errorTable.NOT_FOUND.code,
  PAYLOAD_TOO_LARGE: errorTable.PAYLOAD_TOO_LARGE.code,
  UNSUPPORTED_MEDIA_TYPE: errorTable.VALIDATION_ERROR.code,
};

/** The tRPC instance and its procedure kinds; routers in this folder build on it. */
export function createTrpc(dependencies: TransportDependencies) {
  const { authenticator, config } = dependencies;
  const t = initTRPC.context<TrpcContext>().create({
    transformer,
    // Sent to httpSubscriptionLink in `event: connected` (trpc-sse.ts, which also writes the pings).
    sse: { client: { reconnectAfterInactivityMs: config.pingIntervalMs * 2 } },
    errorFormatter({ shape, error }) {
      // Input that fails a procedure's schema: said as `path: message` with its param, as the REST
      // routes say it, not as zod's issue list in JSON.
      const cause =
        error.cause instanceof AppError
          ? error.cause
          : error.cause instanceof z.ZodError
            ? fromZodError(error.cause)
            : undefined;
      // What tRPC refused itself (malformed input, an unknown procedure, the wrong method) is the caller's mistake.
      const code = cause?.code ?? CALLER_MISTAKES[error.code] ?? errorTable.UNKNOWN_ERROR.code;
      // Never a stack, whatever the mode.
      const { stack: _stack, ...data } = shape.data;
      return {
        ...shape,
        message: cause?.message ?? shape.message,
        data: { ...data, appCode: code, ...(cause?.param ? { param: cause.param } : {}) },
      };
    },
  });

  /** Errors with a row in our table keep their tRPC code (a resolver's throw would otherwise be a 500). */
  const base = t.procedure.use(async ({ next }) => {
    const result = await next();
    if (!result.ok && result.error.cause instanceof AppError) throw toTrpcError(result.error.cause);
    return result;
  });

  const authed = base.use(async ({ ctx, next }) => {
    let caller: Caller;
    try {
      if (ctx.signature && !ctx.credentials.apiKey) {
        // The window applies when the socket opened; a revoked secret or disabled app at once.
        ctx.signatureCheck ??= authenticator.verifySignature(ctx.signature, ctx.openedAt);
        caller = await ctx.signatureCheck;
        await authenticator.recheck(caller);
      } else caller = await authenticator.authenticate(ctx.credentials);
    } catch (error) {
      throw toTrpcError(error);
    }
    return next({ ctx: Object.assign({}, ctx, { caller }) });
  });

  /** Admin procedures: `x-admin-token` must equal ADMIN_TOKEN (compared in constant time). */
  const admin = base.use(({ ctx, next }) => {
    if (!config.adminToken) {
      throw toTrpcError(
        new AppError('FORBIDDEN', 'The admin API is off on this server: set ADMIN_TOKEN to turn it on.'),
      );
    }
    if (!ctx.adminToken) throw toTrpcError(new AppError('AUTHENTICATION_ERROR', 'Missing the x-admin-token header.'));
    if (!safeEqual(ctx.adminToken, config.adminToken)) {
      throw toTrpcError(new AppError('AUTHENTICATION_ERROR', 'The admin token is not valid.'));
    }
    return next();
  });

  return { t, authed, admin };
}
export type Trpc = ReturnType<typeof createTrpc>;
