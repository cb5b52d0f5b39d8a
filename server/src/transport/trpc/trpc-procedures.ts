import {
  callTRPCProcedure,
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  type AnyTRPCRouter,
  type TRPCProcedureType,
} from '@trpc/server';
import type { TrpcContext } from './trpc-context.ts';

/**
 * What our tRPC framings (SSE in trpc-sse.ts, WebSocket in trpc-ws.ts) take from tRPC: the
 * procedure call with its middlewares and input parsing, the transformer, and the error shape with
 * our `errorFormatter`, all through public exports of `@trpc/server`.
 */
export function createTrpcProcedures(router: AnyTRPCRouter) {
  const config = router._def._config;
  const procedures = router._def.procedures as Record<string, { _def: { type: TRPCProcedureType } } | undefined>;
  return {
    transformer: config.transformer,
    /** The client options `httpSubscriptionLink` reads from `event: connected`. */
    sseClientOptions: config.sse?.client ?? {},
    typeOf(path: string): TRPCProcedureType | undefined {
      return procedures[path]?._def.type;
    },
    /** A value as JSON text, through the router's transformer. */
    serialize: (value: unknown): string => JSON.stringify(config.transformer.output.serialize(value)),
    deserialize: (value: unknown): unknown => config.transformer.input.deserialize(value),
    call(call: {
      path: string;
      type: TRPCProcedureType;
      input: unknown;
      ctx: TrpcContext;
      signal: AbortSignal;
    }): Promise<unknown> {
      return callTRPCProcedure({
        router,
        path: call.path,
        getRawInput: () => Promise.resolve(call.input),
        ctx: call.ctx,
        type: call.type,
        signal: call.signal,
        batchIndex: 0,
      });
    },
    /** The error as the client receives it (tRPC's shape, our formatter), not yet serialized. */
    errorShape(failure: {
      cause: unknown;
      ctx: TrpcContext | undefined;
      input: unknown;
      path: string | undefined;
      type: TRPCProcedureType | 'unknown';
    }): unknown {
      return getTRPCErrorShape({
        config,
        ctx: failure.ctx,
        error: getTRPCErrorFromUnknown(failure.cause),
        input: failure.input,
        path: failure.path,
        type: failure.type,
      });
    },
  };
}
export type TrpcProcedures = ReturnType<typeof createTrpcProcedures>;

/** A reconnecting client's last event id merged into the input, as tRPC's own adapters do. */
export function withLastEventId(input: unknown, lastEventId: string | null | undefined): unknown {
  if (!lastEventId) return input;
  if (typeof input === 'object' && input !== null) return { ...input, lastEventId };
  return input ?? { lastEventId };
}
