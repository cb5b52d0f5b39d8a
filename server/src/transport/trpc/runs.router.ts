import { astronChatRequestSchema } from '@astron-chat/shared';
import { z } from 'zod';
import { AppError } from '../../errors/app-error.ts';
import { fromAstronRequest } from '../astron/astron-frames.ts';
import { createFollower, parseEventId } from './run-stream.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { toTrpcError } from './trpc-context.ts';
import type { Trpc } from './trpc.ts';

/** `chat.runs.*`: what a run left behind, for the caller's own app. */
export function createRunsRouter({ t, authed }: Pick<Trpc, 't' | 'authed'>, dependencies: TransportDependencies) {
  const follow = createFollower(dependencies);
  const runId = z.string().min(1).max(64);
  return t.router({
    /**
     * Starts a run without following it; `meta_data.caller_sid` makes it idempotent per app (a
     * retried create answers the run already going).
     */
    create: authed.input(astronChatRequestSchema).mutation(async ({ input, ctx }) => {
      const started = await dependencies.runs.start(
        fromAstronRequest(input),
        { appId: ctx.caller.appId, apiKeyId: ctx.caller.apiKeyId, requestId: ctx.requestId, transport: 'trpc' },
        { idempotent: true },
      );
      return started;
    }),
    /** Follows a run of the caller's app from any instance: what was missed after `lastEventId`, then live. */
    stream: authed
      .input(z.object({ runId, lastEventId: z.string().nullish() }))
      .subscription(({ input, ctx, signal }) => {
        const after = input.lastEventId ? parseEventId(input.lastEventId) : undefined;
        if (after && after.runId !== input.runId) {
          throw toTrpcError(
            new AppError('VALIDATION_ERROR', 'lastEventId belongs to another run.', { param: 'lastEventId' }),
          );
        }
        return follow(ctx.caller.appId, input.runId, after?.seq ?? -1, signal);
      }),
    /** Stops a run of the caller's app wherever it runs. */
    cancel: authed
      .input(z.object({ runId }))
      .mutation(({ input, ctx }) => dependencies.runs.cancel(ctx.caller.appId, input.runId)),
    /** The caller's app's finished runs, newest first; `before` (a run id) pages back. */
    list: authed
      .input(z.object({ limit: z.number().int().min(1).max(200).optional(), before: runId.optional() }).optional())
      .query(({ input, ctx }) =>
        dependencies.runReads.list(ctx.caller.appId, { limit: input?.limit, before: input?.before }),
      ),
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
