import type { Usage } from '@astron-chat/shared';

/** No tokens yet. A fresh object each call: some callers add to it in place. */
export function zeroUsage(): Usage {
  return { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
}

/** `total` and `more` together, as a new object. */
export function addUsage(total: Usage, more: Usage): Usage {
  const cachedPromptTokens = (total.cachedPromptTokens ?? 0) + (more.cachedPromptTokens ?? 0);
  return {
    promptTokens: total.promptTokens + more.promptTokens,
    completionTokens: total.completionTokens + more.completionTokens,
    totalTokens: total.totalTokens + more.totalTokens,
    ...(cachedPromptTokens > 0 ? { cachedPromptTokens } : {}),
    // One estimated call makes the total an estimate.
    ...(total.estimated || more.estimated ? { estimated: true } : {}),
  };
}
