import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { ChatEvent } from '@astron-chat/shared';
import { AppError } from '../../errors/app-error.ts';
import type { StreamSettings } from '../transport-dependencies.ts';
import { openSseStream, type SseWriter } from './sse-writer.ts';

/** One event's payloads in the route's own framing (none, one, or several `data:` frames). */
export type EventFramer = (event: ChatEvent) => string | string[] | undefined;

/** `x-astron-resumable: true` on a streaming REST request: the run outlives the connection. */
export function isResumable(headers: IncomingHttpHeaders): boolean {
  return [headers['x-astron-resumable']].flat()[0]?.trim().toLowerCase() === 'true';
}

/**
 * Writes a run's events as SSE in one route's framing, then `[DONE]` when `done` says the route
 * ends that way. With `runId`, an event's last frame carries `id: <run_id>:<seq>`, so a client that
 * lost the connection resumes after it (`Last-Event-ID`); an event of several frames carries it
 * once, on its last, so a resume never skips a frame it did not get.
 */
export async function writeRunEvents(
  writer: SseWriter,
  events: AsyncIterable<ChatEvent>,
  options: { frame: EventFramer; runId?: string | undefined; done: (failed: boolean) => boolean },
): Promise<void> {
  const { frame, runId } = options;
  let failed = false;
  for await (const event of events) {
    const payload = frame(event);
    if (event.type === 'error') failed = true;
    if (payload === undefined) continue;
    const payloads = typeof payload === 'string' ? [payload] : payload;
    const last = payloads.length - 1;
    for (const [index, item] of payloads.entries()) {
      if (runId !== undefined && index === last) writer.frame(`id: ${runId}:${event.seq}\ndata: ${item}\n\n`);
      else writer.data(item);
    }
  }
  if (options.done(failed)) writer.data('[DONE]');
}

/** Where a resumed stream starts: `Last-Event-ID: <run_id>:<seq>`, else `?after_seq=N`, else the beginning. */
export function resumePoint(runId: string, lastEventId: string | undefined, afterSeq: string | null): number {
  if (lastEventId) {
    const separator = lastEventId.lastIndexOf(':');
    const seq = Number(lastEventId.slice(separator + 1));
    if (separator <= 0 || !Number.isInteger(seq) || seq < -1) {
      throw new AppError('VALIDATION_ERROR', 'Last-Event-ID must look like "<run_id>:<seq>".', {
        param: 'Last-Event-ID',
      });
    }
    if (lastEventId.slice(0, separator) !== runId) {
      throw new AppError('VALIDATION_ERROR', 'Last-Event-ID belongs to another run.', { param: 'Last-Event-ID' });
    }
    return seq;
  }
  if (afterSeq !== null) {
    const seq = Number(afterSeq);
    if (afterSeq.trim() === '' || !Number.isInteger(seq) || seq < -1) {
      throw new AppError('VALIDATION_ERROR', 'after_seq must be an integer from -1 up.', { param: 'after_seq' });
    }
    return seq;
  }
  return -1;
}

/**
 * A followed run as the whole SSE response: `x-astron-run-id`, frames with ids (resumable), the
 * route's ending. `events` come from the run manager's `follow`, which ends when the caller leaves.
 */
export async function sendFollowedRun(
  response: ServerResponse,
  options: {
    settings: StreamSettings;
    ping: string;
    /** Labels a slow-consumer cut: the transport that started the run. */
    transport: string;
    runId: string;
    events: AsyncIterable<ChatEvent>;
    frame: EventFramer;
    done: (failed: boolean) => boolean;
  },
): Promise<void> {
  response.setHeader('x-astron-run-id', options.runId);
  const writer = openSseStream(response, options.settings, options.ping, options.transport);
  try {
    await writeRunEvents(writer, options.events, { frame: options.frame, runId: options.runId, done: options.done });
  } finally {
    writer.end();
  }
}
