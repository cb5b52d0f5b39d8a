import type { ChatEvent, FinishReason, Usage } from '@astron-chat/shared';
import { zeroUsage } from '../lib/usage.ts';
import { addAudioPiece } from './run-tally.ts';

export type CollectedToolCall = Extract<ChatEvent, { type: 'tool-call' }>;

/** A whole answer, for the non-streaming modes of the REST routes. */
export type CollectedAnswer = {
  start: Extract<ChatEvent, { type: 'run-start' }>;
  content: string;
  reasoning: string;
  toolCalls: CollectedToolCall[];
  /** An audio answer (OpenAI `modalities: ["audio"]`), its pieces joined. */
  audio: { id: string; data: string; transcript: string; expiresAt: number } | undefined;
  /** Token log probabilities, when the caller asked and the upstream sent them. */
  logprobs: unknown[] | undefined;
  usage: Usage;
  finishReason: FinishReason | undefined;
  error: Extract<ChatEvent, { type: 'error' }> | undefined;
};

export async function collectAnswer(
  start: Extract<ChatEvent, { type: 'run-start' }>,
  events: AsyncIterable<ChatEvent>,
): Promise<CollectedAnswer> {
  const answer: CollectedAnswer = {
    start,
    content: '',
    reasoning: '',
    toolCalls: [],
    audio: undefined,
    logprobs: undefined,
    usage: zeroUsage(),
    finishReason: undefined,
    error: undefined,
  };
  for await (const event of events) {
    switch (event.type) {
      case 'text-delta':
        answer.content += event.text;
        break;
      case 'reasoning-delta':
        answer.reasoning += event.text;
        break;
      case 'tool-call':
        answer.toolCalls.push(event);
        break;
      case 'usage':
        answer.usage = event.usage;
        break;
      case 'logprobs':
        (answer.logprobs ??= []).push(...event.content);
        break;
      case 'audio-delta':
        answer.audio = { ...addAudioPiece(answer.audio, event), data: (answer.audio?.data ?? '') + (event.data ?? '') };
        break;
      case 'finish':
        answer.usage = event.usage;
        answer.finishReason = event.finishReason;
        break;
      case 'error':
        answer.error = event;
        break;
      case 'run-start':
      case 'step-start':
      case 'step-end':
        break;
    }
  }
  return answer;
}
