/** Content chunks the fake upstream streams per answer. */
export const CHUNKS_PER_ANSWER = 64;

/** The content of each of those chunks; the same answer every time. */
export const ANSWER_TOKENS: readonly string[] = Array.from(
  { length: CHUNKS_PER_ANSWER },
  (_, index) => `token${index} `,
);

/**
 * The whole answer. A request counts as successful only if its content adds up to exactly this:
 * a server may merge deltas that arrive in one read into fewer frames, but must not lose text.
 */
export const EXPECTED_ANSWER = ANSWER_TOKENS.join('');

/** One request that takes longer than this counts as an error instead of stalling the bench. */
export const REQUEST_TIMEOUT_MS = 30_000;
