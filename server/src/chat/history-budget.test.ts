import { describe, expect, it } from 'vitest';
import { applyHistoryBudget } from './history-budget.ts';

const turns = (count: number) =>
  Array.from({ length: count }, (_, index) => [
    { role: 'user' as const, content: `question ${index}` },
    { role: 'assistant' as const, content: `answer ${index}` },
  ]).flat();

describe('applyHistoryBudget', () => {
  it('keeps the newest turns within maxTurns, oldest dropped first', () => {
    const kept = applyHistoryBudget(turns(5), { maxTurns: 2 });
    expect(kept.map((message) => message.content)).toEqual(['question 3', 'answer 3', 'question 4', 'answer 4']);
  });

  it('keeps within the token budget and never starts with an answer', () => {
    const long = [
      { role: 'user' as const, content: 'x'.repeat(400) },
      { role: 'assistant' as const, content: 'y'.repeat(40) },
      { role: 'user' as const, content: 'short' },
      { role: 'assistant' as const, content: 'ok' },
    ];
    const kept = applyHistoryBudget(long, { maxTokens: 20 });
    expect(kept.map((message) => message.content)).toEqual(['short', 'ok']);
  });

  it('keeps nothing when the budget is zero', () => {
    expect(applyHistoryBudget(turns(3), { maxTurns: 0 })).toEqual([]);
  });
});
