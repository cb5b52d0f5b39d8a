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
 * (a 10 MB answer of `xxxx…` held the event loop for minutes; 512 characters of `x` take 58 ms).
 * So only the first EXACT_CHARS are encoded, the rest scaled by characters, and the sample is
 * encoded in pieces cut at whitespace (where the encoder's own pre-tokens end), with each run of
 * more than MAX_RUN non-space characters cut into pieces of its own: at most a few tens of ms.
 */
const EXACT_CHARS = 4_096;
const PIECE_CHARS = 256;
const MAX_RUN = 16;

function* pieces(text: string): Generator<string> {
  let piece = '';
  for (const [word] of text.matchAll(/\s*\S*/gu)) {
    if (word.length - word.trimStart().length + MAX_RUN < word.length) {
      if (piece) yield piece;
      piece = '';
      for (let start = 0; start < word.length; start += MAX_RUN) yield word.slice(start, start + MAX_RUN);
      continue;
    }
    piece += word;
    if (piece.length >= PIECE_CHARS) {
      yield piece;
      piece = '';
    }
  }
  if (piece) yield piece;
}

export async function countTokens(text: string): Promise<number> {
  if (text === '') return 0;
  const encoder = await loadTokenizer();
  const sample = text.length > EXACT_CHARS ? text.slice(0, EXACT_CHARS) : text;
  let tokens = 0;
  for (const piece of pieces(sample)) tokens += encoder.encode(piece, [], []).length;
  return sample === text ? tokens : Math.round((tokens * text.length) / sample.length);
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
