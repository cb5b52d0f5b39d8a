import type { ChatEventBody, FinishReason, Usage } from '@astron-chat/shared';
import type { AppError } from '../errors/app-error.ts';
import { addUsage, zeroUsage } from '../lib/usage.ts';
import type { RunHeader } from '../run-log/run-log.ts';
import type { AnswerAudio, RunRecord, StoredToolCall } from '../store/run.repository.ts';
import type { ExecutionPart } from '../workflow/execute-bot.ts';

/**
 * What one run has produced so far, and the record it leaves: the core feeds it every part of the
 * execution and asks it, once, for the record to store.
 *
 * A class rather than a closure over `let`s: a run holds one while it streams, and its methods then
 * live once on the prototype instead of ten closures (and a getter's dictionary) per run.
 */
export class RunTally {
  readonly #header: RunHeader;
  #content = '';
  #reasoning = '';
  /** An audio answer's reference and transcript; its data is the caller's, not stored. */
  #audio: AnswerAudio | undefined;
  readonly #toolCalls: StoredToolCall[] = [];
  #usage = zeroUsage();
  #finishReason: FinishReason | undefined;
  #firstTokenAt: number | undefined;
  /** Model calls that may still report usage they left unreported (see ModelRequest.trackUnreportedUsage). */
  readonly #unreported = new Set<Promise<Usage | undefined>>();
  /** Providers that answered the run's model calls, in the order they first did. */
  readonly #providers: string[] = [];

  constructor(header: RunHeader) {
    this.#header = header;
  }

  /** A model call's usage to come if it is cut short (cancel, failure) before it reports any. */
  trackUnreported(pending: Promise<Usage | undefined>): void {
    this.#unreported.add(pending);
    void pending.then((more) => {
      this.#unreported.delete(pending);
      if (more) this.#usage = addUsage(this.#usage, more);
    });
  }

  /**
   * Waits (at most `timeoutMs`) for the usage of model calls still winding down: a stopped
   * workflow lets its nodes go at once, and their models report what they streamed as they end.
   */
  async settleUnreported(timeoutMs: number): Promise<void> {
    if (this.#unreported.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.allSettled(this.#unreported), timeout]);
    clearTimeout(timer);
  }

  /** Counts one part in; returns the event the caller sees for it (`finish` is the run's to send). */
  take(part: ExecutionPart): ChatEventBody | undefined {
    switch (part.type) {
      case 'text-delta':
        this.#firstTokenAt ??= Date.now();
        this.#content += part.text;
        return part;
      case 'reasoning-delta':
        this.#firstTokenAt ??= Date.now();
        this.#reasoning += part.text;
        return part;
      case 'tool-call':
        this.#firstTokenAt ??= Date.now();
        this.#toolCalls.push(toStoredToolCall(part));
        return part;
      case 'usage':
        // Parts carry what one step used; callers see the run's total so far.
        this.#usage = addUsage(this.#usage, part.usage);
        return { type: 'usage', usage: this.#usage };
      case 'audio-delta':
        this.#firstTokenAt ??= Date.now();
        this.#audio = addAudioPiece(this.#audio, part);
        return part;
      case 'step-start':
      case 'step-end':
      case 'logprobs':
        return part;
      case 'finish':
        this.#finishReason = part.finishReason;
        return undefined;
    }
  }

  /** A model call of this run was answered by `provider` (a fallback's id when one took over). */
  answeredBy(provider: string): void {
    if (!this.#providers.includes(provider)) this.#providers.push(provider);
  }

  get usage(): Usage {
    return this.#usage;
  }

  /** Why the model stopped; `stop` when it did not say. */
  finishReason(): FinishReason {
    this.#finishReason ??= 'stop';
    return this.#finishReason;
  }

  /** The run as it is stored, ended now with `status` (and `failure` when it failed). */
  toRecord(status: RunRecord['status'], failure: AppError | undefined): RunRecord {
    const header = this.#header;
    // Object.assign, not `{ ...header, status, … }`: see docs/decisions/2026-12-03-no-spread-then-properties.md.
    return Object.assign({}, header, {
      status,
      finishReason: status === 'cancelled' ? 'cancelled' : this.#finishReason,
      error: failure ? { code: failure.code, message: failure.message } : undefined,
      usage: this.#usage,
      timeToFirstTokenMs: this.#firstTokenAt === undefined ? undefined : this.#firstTokenAt - header.createdAt,
      durationMs: Date.now() - header.createdAt,
      answer: {
        content: this.#content,
        reasoning: this.#reasoning,
        toolCalls: this.#toolCalls,
        ...(this.#audio ? { audio: this.#audio } : {}),
      },
      provider: this.#providers.length > 0 ? this.#providers.join(',') : undefined,
    });
  }
}

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
