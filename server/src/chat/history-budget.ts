import type { HistoryBudget } from '@astron-chat/shared';
import type { HistoryMessage } from '../store/run.repository.ts';

/** Stored messages read for a chat (and cached) before a bot's budget trims them. */
export const STORED_HISTORY_LIMIT = 200;
export const DEFAULT_HISTORY_BUDGET = { maxTurns: 20, maxTokens: 8_000 } as const;

/** Rough and provider-neutral: about four characters a token. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * Keeps the newest messages that fit the bot's budget: at most `maxTurns` exchanges and
 * `maxTokens` estimated tokens. The oldest go first; the kept part never starts with an
 * assistant message, so the model never sees an answer without its question.
 */
export function applyHistoryBudget(messages: HistoryMessage[], budget: HistoryBudget | undefined): HistoryMessage[] {
  const maxMessages = 2 * (budget?.maxTurns ?? DEFAULT_HISTORY_BUDGET.maxTurns);
  const maxTokens = budget?.maxTokens ?? DEFAULT_HISTORY_BUDGET.maxTokens;
  let start = messages.length;
  let tokens = 0;
  while (start > 0 && messages.length - start < maxMessages) {
    const cost = estimateTokens(messages[start - 1]?.content ?? '');
    if (tokens + cost > maxTokens) break;
    tokens += cost;
    start -= 1;
  }
  while (start < messages.length && messages[start]?.role === 'assistant') start += 1;
  return messages.slice(start);
}
