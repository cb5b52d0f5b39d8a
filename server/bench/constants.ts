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

/**
 * The fake upstream's paced mode: `<upstream>/paced/<chunks>/v1/chat/completions` streams the first
 * `<chunks>` tokens of the answer with PACED_CHUNK_INTERVAL_MS between them
 * (`/paced/<chunks>/<ms>ms/v1/…`: `<ms>` between them). A server under test selects it by its
 * OPENAI_BASE_URL alone, without a model name or header of its own.
 */
export const PACED_CHUNK_INTERVAL_MS = 200;
export const pacedBasePath = (chunks: number, intervalMs = PACED_CHUNK_INTERVAL_MS) =>
  intervalMs === PACED_CHUNK_INTERVAL_MS ? `/paced/${chunks}/v1` : `/paced/${chunks}/${intervalMs}ms/v1`;
export const pacedAnswer = (chunks: number) => ANSWER_TOKENS.slice(0, chunks).join('');
/** How long a paced answer streams: the first chunk goes out at once, the rest one interval apart. */
export const pacedDurationMs = (chunks: number, intervalMs = PACED_CHUNK_INTERVAL_MS) => (chunks - 1) * intervalMs;
