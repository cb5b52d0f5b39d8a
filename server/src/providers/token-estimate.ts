import type { Usage } from '@astron-chat/shared';
import type { Tiktoken } from 'js-tiktoken/lite';
import type { ModelRequest } from './chat-model.ts';

/**
 * The tokenizer, loaded on first use: its ranks ship in the npm package (nothing is downloaded),
 * but building it takes about 0.4 s and 35 MB of heap, which a server whose upstreams report usage
 * never pays. cl100k_base rather than o200k_base: half the memory, and counts within a few percent
 * of each other on ordinary text (docs/decisions/2026-12-02-estimated-usage.md).
 */
let tokenizer: Promise<Tiktoken> | undefined;
function loadTokenizer(): Promise<Tiktoken> {
  tokenizer ??= Promise.all([import('js-tiktoken/lite'), import('js-tiktoken/ranks/cl100k_base')]).then(
    ([{ Tiktoken: Encoder }, ranks]) => new Encoder(ranks.default),
  );
  return tokenizer;
}

/** OpenAI's accounting of chat formatting: a few tokens per message, and the reply's priming. */
const TOKENS_PER_MESSAGE = 3;
const REPLY_PRIMING_TOKENS = 3;
/** A non-text part (image, audio, file) counted as what OpenAI bills a low-detail image. */
const TOKENS_PER_MEDIA_PART = 85;

/**
 * BPE is quadratic in the length of one pre-token, and a long run without spaces is one pre-token
 * (a 10 MB answer of `xxxx…` held the event loop for minutes). So text is encoded in pieces of at
 * most PIECE_CHARS, and only the first EXACT_CHARS exactly; the rest is scaled by characters.
 */
const PIECE_CHARS = 512;
const EXACT_CHARS = 32_768;

export async function countTokens(text: string): Promise<number> {
  if (text === '') return 0;
  const encoder = await loadTokenizer();
  const sampled = Math.min(text.length, EXACT_CHARS);
  let tokens = 0;
  for (let start = 0; start < sampled; start += PIECE_CHARS) {
    tokens += encoder.encode(text.slice(start, Math.min(start + PIECE_CHARS, sampled)), [], []).length;
  }
  return sampled === text.length ? tokens : Math.round((tokens * text.length) / sampled);
}

/**
 * Usage of a model call the upstream did not report: the prompt as sent (messages and tools) and
 * `completion`, everything streamed back (text, reasoning, tool-call arguments). Flagged `estimated`.
 */
export async function estimateUsage(request: ModelRequest, completion: string): Promise<Usage> {
  let promptTokens = REPLY_PRIMING_TOKENS;
  for (const message of request.messages) {
    promptTokens += TOKENS_PER_MESSAGE;
    if (message.role === 'user' && message.parts) {
      for (const part of message.parts) {
        promptTokens += part.type === 'text' ? await countTokens(part.text) : TOKENS_PER_MEDIA_PART;
      }
    } else {
      promptTokens += await countTokens(message.content);
    }
    if (message.role === 'assistant' && message.toolCalls) {
      for (const call of message.toolCalls) promptTokens += await countTokens(call.name + call.arguments);
    }
  }
  if (request.tools?.length) promptTokens += await countTokens(JSON.stringify(request.tools));
  const completionTokens = await countTokens(completion);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, estimated: true };
}
