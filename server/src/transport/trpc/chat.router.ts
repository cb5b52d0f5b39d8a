import { chatCompletionsInputSchema } from '@astron-chat/shared';
import { z } from 'zod';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { fromAstronRequest } from '../astron/astron-frames.ts';
import { createRunsRouter } from './runs.router.ts';
import { createFollower, parseEventId } from './run-stream.ts';
import { toTrpcError } from './trpc-context.ts';
import type { Trpc } from './trpc.ts';

export function createChatRouter({ t, authed }: Trpc, dependencies: TransportDependencies) {
  const { runs, conversations } = dependencies;
  const follow = createFollower(dependencies);
  const contextOf = (ctx: { caller: { appId: string; apiKeyId?: string }; requestId: string }) => ({
    appId: ctx.caller.appId,
    apiKeyId: ctx.caller.apiKeyId,
    requestId: ctx.requestId,
    transport: 'trpc' as const,
  });
  return t.router({
    runs: createRunsRouter({ t, authed }, dependencies),
    /** The caller's app and its bots (what the console's bot picker offers). */
    bots: authed.query(async ({ ctx }) => ({
      appId: ctx.caller.appId,
      bots: (await dependencies.bots.listBots(ctx.caller.appId)).map((bot) => ({ botId: bot.id, name: bot.name })),
    })),
    /** One user's chats of the caller's app, most recently active first; `before` pages back. */
    conversations: authed
      .input(
        z.object({
          uid: z.string().min(1).max(64),
          limit: z.number().int().min(1).max(200).optional(),
          before: z.string().max(200).optional(),
        }),
      )
      .query(({ input, ctx }) =>
        conversations.listChats(ctx.caller.appId, input.uid, { limit: input.limit, before: input.before }),
      ),
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
    /**
     * Starts a run and streams it as typed `ChatEvent`s, each `tracked` by `runId:seq`. A reconnect
     * (tRPC sends `lastEventId`) resumes the same run after the last event it saw, on any instance.
     * A retry that saw no event yet carries only `idempotencyKey`: it attaches to the run the key
     * started (replayed from its first event) instead of starting another.
     */
    completions: authed.input(chatCompletionsInputSchema).subscription(async ({ input, ctx, signal }) => {
      const resume = input.lastEventId ? parseEventId(input.lastEventId) : undefined;
      const runId =
        resume?.runId ??
        (
          await startRun(() =>
            runs.start(fromAstronRequest(input), contextOf(ctx), {
              idempotency: input.idempotencyKey ? { key: input.idempotencyKey, param: 'idempotencyKey' } : undefined,
            }),
          )
        ).runId;
      return follow(ctx.caller.appId, runId, resume?.seq ?? -1, signal);
    }),
  });
}

/** Errors before a run starts keep their code; see `follow` for what happens after. */
async function startRun<Value>(start: () => Promise<Value>): Promise<Value> {
  try {
    return await start();
  } catch (error) {
    throw toTrpcError(error);
  }
}
