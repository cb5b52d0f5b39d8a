import type { ChatEvent } from '@astron-chat/shared';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import { AppError, toAppError } from '../../errors/app-error.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { toTrpcError } from './trpc-context.ts';

/** `runId:seq`, as `tracked` ids are made. */
export function parseEventId(eventId: string): { runId: string; seq: number } {
  const separator = eventId.lastIndexOf(':');
  const seq = Number(eventId.slice(separator + 1));
  if (separator <= 0 || !Number.isInteger(seq)) {
    throw toTrpcError(
      new AppError('VALIDATION_ERROR', 'lastEventId must look like "<runId>:<seq>".', { param: 'lastEventId' }),
    );
  }
  return { runId: eventId.slice(0, separator), seq };
}

/**
 * A run's events as tRPC values, each `tracked` by `runId:seq` so that a reconnecting client resumes
 * after the last one it saw. A plain iterator rather than an async generator: a generator here kept
 * its own promises and request objects alive through every wait between events, and with a thousand
 * streams open those outlived the young generation (see docs/decisions/2026-11-25-fewer-layers-per-event.md).
 */
export function createFollower(dependencies: TransportDependencies) {
  return function follow(
    appId: string,
    runId: string,
    afterSeq: number,
    signal: AbortSignal | undefined,
  ): AsyncIterableIterator<TrackedEnvelope<ChatEvent>> {
    const events = dependencies.runs.follow(appId, runId, afterSeq, signal ?? new AbortController().signal);
    let done = false;
    const end = (): IteratorResult<TrackedEnvelope<ChatEvent>> => {
      done = true;
      return { done: true, value: undefined };
    };
    // Made once per follower, not per event.
    const onResult = (result: IteratorResult<ChatEvent>): IteratorResult<TrackedEnvelope<ChatEvent>> =>
      result.done ? end() : { done: false, value: tracked(`${runId}:${result.value.seq}`, result.value) };
    const onError = (error: unknown): IteratorResult<TrackedEnvelope<ChatEvent>> => {
      done = true;
      const trpcError = toTrpcError(error);
      // httpSubscriptionLink reconnects after INTERNAL_SERVER_ERROR and would loop on it; such
      // errors travel in-band as the stream's final event instead.
      if (trpcError.code !== 'INTERNAL_SERVER_ERROR') throw trpcError;
      const appError = toAppError(error);
      const event: ChatEvent = {
        type: 'error',
        seq: 0,
        code: appError.code,
        message: appError.message,
        retryable: appError.retryable,
      };
      return { done: false, value: tracked(`${runId}:error`, event) };
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next() {
        if (done) return Promise.resolve(end());
        return events.next().then(onResult, onError);
      },
      async return() {
        done = true;
        await events.return(undefined);
        return { done: true, value: undefined };
      },
    };
  };
}
