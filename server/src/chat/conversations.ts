import { AppError } from '../errors/app-error.ts';
import type { RunRepository } from '../store/run.repository.ts';

export type MessagePage = {
  chatId: string;
  messages: Array<{
    id: string;
    role: 'user' | 'assistant';
    content: string;
    /** A user message's content parts (images, audio, files) when it held more than text. */
    parts: unknown[] | null;
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

export type ChatPage = {
  uid: string;
  chats: Array<{ chatId: string; botId: string; title: string; created: number; updated: number }>;
  /** Pass as `before` for the next (older) page; absent on the last one. */
  nextBefore: string | undefined;
};

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const CHAT_CURSOR = /^(\d+):(.+)$/s;

/** A page size from 1 to 200, 50 when not given. */
export function checkLimit(limit: number | undefined): number {
  const value = limit ?? 50;
  if (!Number.isInteger(value) || value < 1 || value > 200) {
    throw new AppError('VALIDATION_ERROR', 'limit must be an integer from 1 to 200.', { param: 'limit' });
  }
  return value;
}

/** Reads of what runs left behind, always for the caller's own app. */
export function createConversationService(options: { runs: RunRepository }) {
  return {
    async history(
      appId: string,
      chatId: string,
      page: { limit?: number | undefined; before?: string | undefined },
    ): Promise<MessagePage> {
      const limit = checkLimit(page.limit);
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
          parts: message.parts === null ? null : (JSON.parse(message.parts) as unknown[]),
          reasoningContent: message.reasoning,
          toolCalls: message.tool_calls === null ? null : (JSON.parse(message.tool_calls) as unknown[]),
          status: message.status,
          runId: message.run_id,
          created: Math.floor(Number(message.created_at) / 1000),
        })),
        nextBefore,
      };
    },

    /**
     * One user's chats of the app, most recently active first, with the first question as a title;
     * `before` is the previous page's `nextBefore`.
     */
    async listChats(
      appId: string,
      uid: string,
      page: { limit?: number | undefined; before?: string | undefined },
    ): Promise<ChatPage> {
      const limit = checkLimit(page.limit);
      const cursor = page.before === undefined ? undefined : CHAT_CURSOR.exec(page.before);
      if (page.before !== undefined && !cursor) {
        throw new AppError('VALIDATION_ERROR', 'before must be a nextBefore value from an earlier page.', {
          param: 'before',
        });
      }
      const { chats, next } = await options.runs.listChats({
        appId,
        uid,
        limit,
        ...(cursor ? { before: { updatedAt: Number(cursor[1]), id: cursor[2] ?? '' } } : {}),
      });
      return {
        uid,
        chats: chats.map((chat) => ({
          chatId: chat.id,
          botId: chat.bot_id,
          title: (chat.first_message ?? '').slice(0, 80),
          created: Math.floor(Number(chat.created_at) / 1000),
          updated: Math.floor(Number(chat.updated_at) / 1000),
        })),
        nextBefore: next ? `${next.updatedAt}:${next.id}` : undefined,
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
