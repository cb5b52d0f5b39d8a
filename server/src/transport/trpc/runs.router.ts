import { z } from 'zod';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { toTrpcError } from './trpc-context.ts';
import type { Trpc } from './trpc.ts';

/** `chat.runs.*`: what a run left behind, for the caller's own app. */
export function createRunsRouter({ t, authed }: Pick<Trpc, 't' | 'authed'>, dependencies: TransportDependencies) {
  return t.router({
    /** A run with its status, usage and every workflow node run (status, attempts, timings, usage, error). */
    get: authed.input(z.object({ runId: z.string().min(1).max(64) })).query(async ({ input, ctx }) => {
      try {
        return await dependencies.runReads.get(ctx.caller.appId, input.runId);
      } catch (error) {
        throw toTrpcError(error);
      }
    }),
  });
}
