import {
  callTRPCProcedure,
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  type AnyTRPCRouter,
  type TRPCProcedureType,
} from '@trpc/server';
import type { TrpcContext } from './trpc-context.ts';

/**
 * The tRPC seam: what our own tRPC framings (SSE in trpc-sse.ts, WebSocket in trpc-ws.ts) take
 * from tRPC. The procedure call with its middlewares and input parsing (`callTRPCProcedure`) and
 * the error shape with our `errorFormatter` (`getTRPCErrorShape`) are exports of `@trpc/server`.
 *
 * EXCEPTION — tRPC internals: the router's config (transformer, SSE client options, error
 * formatter) and the procedure types are read from `router._def`, which tRPC does not document and
 * may change in any release. This file is the only one that may touch them; every read is in
 * `readRouterInternals` below, and trpc-procedures.test.ts pins what we read against the real
 * router, so a tRPC upgrade that moves them fails that test, not production.
 */
export function createTrpcProcedures(router: AnyTRPCRouter) {
  const { config, procedures } = readRouterInternals(router);
  return {
    /** Every procedure: its dotted path, type and input parsers (for the OpenAPI document). */
    list(): TrpcProcedureInfo[] {
      return Object.entries(procedures).flatMap(([path, procedure]) =>
        procedure ? [{ path, type: procedure._def.type, inputs: procedure._def.inputs ?? [] }] : [],
      );
    },
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

/** One procedure as the OpenAPI document describes it; `inputs` are its `.input()` parsers, in order. */
type TrpcProcedureInfo = { path: string; type: TRPCProcedureType; inputs: unknown[] };

/** Every read of tRPC's private router fields (see the exception above). */
function readRouterInternals(router: AnyTRPCRouter) {
  return {
    config: router._def._config,
    procedures: router._def.procedures as Record<
      string,
      { _def: { type: TRPCProcedureType; inputs?: unknown[] } } | undefined
    >,
  };
}

/** A reconnecting client's last event id merged into the input, as tRPC's own adapters do. */
export function withLastEventId(input: unknown, lastEventId: string | null | undefined): unknown {
  if (!lastEventId) return input;
  if (typeof input === 'object' && input !== null) return Object.assign({}, input, { lastEventId });
  return input ?? { lastEventId };
}
