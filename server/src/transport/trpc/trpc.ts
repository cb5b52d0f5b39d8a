import { errorTable } from '@astron-chat/shared';
import { initTRPC } from '@trpc/server';
import superjson from 'superjson';
import { AppError } from '../../errors/app-error.ts';
import type { Caller } from '../../auth/authenticator.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { toTrpcError, type TrpcContext } from './trpc-context.ts';

/** The tRPC instance and its procedure kinds; routers in this folder build on it. */
export function createTrpc(dependencies: TransportDependencies) {
  const { authenticator, config } = dependencies;
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

  return { t, authed };
}
export type Trpc = ReturnType<typeof createTrpc>;
