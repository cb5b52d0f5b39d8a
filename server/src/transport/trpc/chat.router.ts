import { astronChatRequestSchema } from '@astron-chat/shared';
import { tracked } from '@trpc/server';
import { z } from 'zod';
import { AppError, toAppError } from '../../errors/app-error.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { fromAstronRequest } from '../astron/astron-frames.ts';
import { createRunsRouter } from './runs.router.ts';
import { toTrpcError } from './trpc-context.ts';
import type { Trpc } from './trpc.ts';

/** `chat.completions` input: the Astron body, plus `lastEventId` that tRPC adds on reconnect. */
const completionsInputSchema = astronChatRequestSchema.and(z.object({ lastEventId: z.string().nullish() }));

export function createChatRouter({ t, authed }: Trpc, dependencies: TransportDependencies) {
  const { chat, conversations } = dependencies;
  return t.router({
    runs: createRunsRouter({ t, authed }, dependencies),
    /** A page of one of the caller's chats, newest last; `before` pages back. */
    history: authed
      .input(
        z.object({
          chatId: z.string().min(1).max(128),
          limit: z.number().int().min(1).max(200).optional(),
          before: z.string().optional(),
        }),
      )
      .query(({ input, ctx }) =>
        conversations.history(ctx.caller.appId, input.chatId, { limit: input.limit, before: input.before }),
      ),
    /** The caller's token usage by UTC day (`YYYY-MM-DD`, inclusive), bot and key. */
    usage: authed
      .input(z.object({ from: z.string().optional(), to: z.string().optional() }).optional())
      .query(({ input, ctx }) => conversations.usage(ctx.caller.appId, input ?? {})),
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
  });
}
