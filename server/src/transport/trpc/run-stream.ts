import { tracked } from '@trpc/server';
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

export function createFollower(dependencies: TransportDependencies) {
  return async function* follow(appId: string, runId: string, afterSeq: number, signal: AbortSignal | undefined) {
    try {
      for await (const event of dependencies.runs.follow(
        appId,
        runId,
        afterSeq,
        signal ?? new AbortController().signal,
      )) {
        yield tracked(`${runId}:${event.seq}`, event);
      }
    } catch (error) {
      const trpcError = toTrpcError(error);
      // httpSubscriptionLink reconnects after INTERNAL_SERVER_ERROR and would loop on it; such
      // errors travel in-band as the stream's final event instead.
      if (trpcError.code !== 'INTERNAL_SERVER_ERROR') throw trpcError;
      const appError = toAppError(error);
      yield tracked(`${runId}:error`, {
        type: 'error' as const,
        seq: 0,
        code: appError.code,
        message: appError.message,
        retryable: appError.retryable,
      });
    }
  };
}
