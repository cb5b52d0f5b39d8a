import { AppError } from '../errors/app-error.ts';
import type { RunRepository } from '../store/run.repository.ts';

export type MessagePage = {
  chatId: string;
  messages: Array<{
    id: string;
    role: 'user' | 'assistant';
    content: string;
    reasoningContent: string | null;
    toolCalls: unknown[] | null;
    /** `partial`: the run was cancelled or failed after this much of the answer. */
    status: 'complete' | 'partial';
    runId: string;
    created: number;
  }>;
  /** Pass as `before` for the previous page; absent on the first message. */
  nextBefore: string | undefined;
};

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Reads of what runs left behind, always for the caller's own app. */
export function createConversationService(options: { runs: RunRepository }) {
  return {
    async history(
      appId: string,
      chatId: string,
      page: { limit?: number | undefined; before?: string | undefined },
    ): Promise<MessagePage> {
      const limit = page.limit ?? 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
        throw new AppError('VALIDATION_ERROR', 'limit must be an integer from 1 to 200.', { param: 'limit' });
      }
      if ((await options.runs.findChat(appId, chatId)) === undefined) {
        throw new AppError('NOT_FOUND', `Chat "${chatId}" was not found for this app.`, { param: 'chat_id' });
      }
      const { messages, nextBefore } = await options.runs.listMessages({ appId, chatId, limit, before: page.before });
      return {
        chatId,
        messages: messages.map((message) => ({
          id: message.id,
          role: message.role,
          content: message.content,
          reasoningContent: message.reasoning,
          toolCalls: message.tool_calls === null ? null : (JSON.parse(message.tool_calls) as unknown[]),
          status: message.status,
          runId: message.run_id,
          created: Math.floor(Number(message.created_at) / 1000),
        })),
        nextBefore,
      };
    },

    /** Token usage by UTC day, bot and key; the last 30 days when no range is given. */
    async usage(appId: string, range: { from?: string | undefined; to?: string | undefined }) {
      const to = range.to ?? new Date().toISOString().slice(0, 10);
      const from = range.from ?? new Date(Date.parse(to) - 29 * 86_400_000).toISOString().slice(0, 10);
      for (const [name, value] of [
        ['from', from],
        ['to', to],
      ] as const) {
        if (!DAY.test(value) || Number.isNaN(Date.parse(value))) {
          throw new AppError('VALIDATION_ERROR', `${name} must be a date as YYYY-MM-DD.`, { param: name });
        }
      }
      if (from > to) throw new AppError('VALIDATION_ERROR', 'from must not be after to.', { param: 'from' });
      return { appId, from, to, days: await options.runs.usageByDay({ appId, from, to }) };
    },
  };
}
export type ConversationService = ReturnType<typeof createConversationService>;
