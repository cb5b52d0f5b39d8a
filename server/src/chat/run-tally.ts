import type { ChatEventBody, FinishReason, Usage } from '@astron-chat/shared';
import type { AppError } from '../errors/app-error.ts';
import { addUsage, zeroUsage } from '../lib/usage.ts';
import type { RunHeader } from '../run-log/run-log.ts';
import type { AnswerAudio, RunRecord, StoredToolCall } from '../store/run.repository.ts';
import type { ExecutionPart } from '../workflow/execute-bot.ts';

/**
 * What one run has produced so far, and the record it leaves: the core feeds it every part of the
 * execution and asks it, once, for the record to store.
 */
export function createRunTally(header: RunHeader) {
  let content = '';
  let reasoning = '';
  /** An audio answer's reference and transcript; its data is the caller's, not stored. */
  let audio: AnswerAudio | undefined;
  const toolCalls: StoredToolCall[] = [];
  let usage = zeroUsage();
  let finishReason: FinishReason | undefined;
  let firstTokenAt: number | undefined;
  /** Model calls that may still report usage they left unreported (see ModelRequest.trackUnreportedUsage). */
  const unreported = new Set<Promise<Usage | undefined>>();
  /** Providers that answered the run's model calls, in the order they first did. */
  const providers: string[] = [];

  return {
    /** A model call's usage to come if it is cut short (cancel, failure) before it reports any. */
    trackUnreported(pending: Promise<Usage | undefined>): void {
      unreported.add(pending);
      void pending.then((more) => {
        unreported.delete(pending);
        if (more) usage = addUsage(usage, more);
      });
    },
    /**
     * Waits (at most `timeoutMs`) for the usage of model calls still winding down: a stopped
     * workflow lets its nodes go at once, and their models report what they streamed as they end.
     */
    async settleUnreported(timeoutMs: number): Promise<void> {
      if (unreported.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([Promise.allSettled(unreported), timeout]);
      clearTimeout(timer);
    },
    /** Counts one part in; returns the event the caller sees for it (`finish` is the run's to send). */
    take(part: ExecutionPart): ChatEventBody | undefined {
      switch (part.type) {
        case 'text-delta':
          firstTokenAt ??= Date.now();
          content += part.text;
          return part;
        case 'reasoning-delta':
          firstTokenAt ??= Date.now();
          reasoning += part.text;
          return part;
        case 'tool-call':
          firstTokenAt ??= Date.now();
          toolCalls.push(toStoredToolCall(part));
          return part;
        case 'usage':
          // Parts carry what one step used; callers see the run's total so far.
          usage = addUsage(usage, part.usage);
          return { type: 'usage', usage };
        case 'audio-delta':
          firstTokenAt ??= Date.now();
          audio = addAudioPiece(audio, part);
          return part;
        case 'step-start':
        case 'step-end':
        case 'logprobs':
          return part;
        case 'finish':
          finishReason = part.finishReason;
          return undefined;
      }
    },
    /** A model call of this run was answered by `provider` (a fallback's id when one took over). */
    answeredBy(provider: string) {
      if (!providers.includes(provider)) providers.push(provider);
    },
    get usage() {
      return usage;
    },
    /** Why the model stopped; `stop` when it did not say. */
    finishReason(): FinishReason {
      finishReason ??= 'stop';
      return finishReason;
    },
    /** The run as it is stored, ended now with `status` (and `failure` when it failed). */
    toRecord(status: RunRecord['status'], failure: AppError | undefined): RunRecord {
      return {
        ...header,
        status,
        finishReason: status === 'cancelled' ? 'cancelled' : finishReason,
        error: failure ? { code: failure.code, message: failure.message } : undefined,
        usage,
        timeToFirstTokenMs: firstTokenAt === undefined ? undefined : firstTokenAt - header.createdAt,
        durationMs: Date.now() - header.createdAt,
        answer: { content, reasoning, toolCalls, ...(audio ? { audio } : {}) },
        provider: providers.length > 0 ? providers.join(',') : undefined,
      };
    },
  };
}
export type RunTally = ReturnType<typeof createRunTally>;

/** An audio answer so far, with one more piece: `transcript` appended, `id` and `expiresAt` as last sent. */
export function addAudioPiece(
  audio: AnswerAudio | undefined,
  piece: { id?: string | undefined; transcript?: string | undefined; expiresAt?: number | undefined },
): AnswerAudio {
  return {
    id: piece.id ?? audio?.id ?? '',
    transcript: (audio?.transcript ?? '') + (piece.transcript ?? ''),
    expiresAt: piece.expiresAt ?? audio?.expiresAt ?? 0,
  };
}

export function toStoredToolCall(
  call: Omit<StoredToolCall, 'result'> & { result?: string | undefined },
): StoredToolCall {
  const { id, kind, name, arguments: callArguments, result } = call;
  return { id, kind, name, arguments: callArguments, ...(result === undefined ? {} : { result }) };
}
