import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { idempotencyKeySchema, type ChatEvent } from '@astron-chat/shared';
import type { ChatContext, ChatRequest } from '../../chat/chat-request.ts';
import { AppError } from '../../errors/app-error.ts';
import type { RunManager } from '../../runs/run-manager.ts';
import type { StreamSettings } from '../transport-dependencies.ts';
import { firstHeader } from './http-io.ts';
import { openSseStream } from './sse-writer.ts';

/** One event's payloads in the route's own framing (none, one, or several `data:` frames). */
export type EventFramer = (event: ChatEvent) => string | string[] | undefined;

/**
 * What sets one REST route's SSE apart, declared once per route: its label (for slow-consumer
 * cuts), its heartbeat frame, and whether a stream ends with `data: [DONE]`.
 */
export type SseWire = { transport: string; ping: string; endsWithDone: (failed: boolean) => boolean };

/** `x-astron-resumable: true` on a streaming REST request: the run outlives the connection. */
export function isResumable(headers: IncomingHttpHeaders): boolean {
  return firstHeader(headers['x-astron-resumable'])?.trim().toLowerCase() === 'true';
}

/**
 * `Idempotency-Key` of a resumable request: a retried POST attaches to the run its key started
 * (after `Last-Event-ID` when it sends one) instead of starting another. Not read without
 * `x-astron-resumable`: such a run is cancelled with its connection, so there is no run to attach to.
 */
export function idempotencyOf(headers: IncomingHttpHeaders): { key: string; param: string } | undefined {
  const value = firstHeader(headers['idempotency-key']);
  if (value === undefined) return undefined;
  const parsed = idempotencyKeySchema.safeParse(value.trim());
  if (!parsed.success) {
    throw new AppError('VALIDATION_ERROR', `Idempotency-Key ${parsed.error.issues[0]?.message ?? 'is not valid'}.`, {
      param: 'Idempotency-Key',
    });
  }
  return { key: parsed.data, param: 'Idempotency-Key' };
}

/**
 * Starts (or, for a retry with its `Idempotency-Key`, finds) a resumable REST run, and where its
 * stream starts: a retry replays from the beginning, or after the `Last-Event-ID` it sends.
 */
export async function startResumableRun(
  runs: Pick<RunManager, 'start'>,
  start: { request: ChatRequest; context: ChatContext; headers: IncomingHttpHeaders },
): Promise<{ runId: string; afterSeq: number }> {
  const { runId, existing } = await runs.start(start.request, start.context, {
    idempotency: idempotencyOf(start.headers),
  });
  const lastEventId = firstHeader(start.headers['last-event-id']);
  return { runId, afterSeq: existing && lastEventId ? resumePoint(runId, lastEventId, null) : -1 };
}

/**
 * A run's events as the whole SSE response, in one route's framing and wire, then `[DONE]` when
 * the wire ends that way. With `runId`, an event's last frame carries `id: <run_id>:<seq>`, so a client that
 * lost the connection resumes after it (`Last-Event-ID`); an event of several frames carries it
 * once, on its last, so a resume never skips a frame it did not get.
 */
async function sendRunEvents(
  response: ServerResponse,
  options: {
    settings: StreamSettings;
    wire: SseWire;
    events: AsyncIterable<ChatEvent>;
    frame: EventFramer;
    /** Resumable: every event's last frame carries `id: <run_id>:<seq>`. */
    runId?: string | undefined;
    /** Sent first, without an id: a run read to its end by this request starts with its `run-start`. */
    start?: ChatEvent | undefined;
  },
): Promise<void> {
  const { wire, frame, runId } = options;
  const writer = openSseStream(response, options.settings, wire.ping, wire.transport);
  try {
    if (options.start) writer.data(frame(options.start) as string);
    let failed = false;
    /** The event's last frame carries its id when the stream is resumable. */
    const send = (payload: string, event: ChatEvent, last: boolean) => {
      if (runId !== undefined && last) writer.frame(`id: ${runId}:${event.seq}\ndata: ${payload}\n\n`);
      else writer.data(payload);
    };
    for await (const event of options.events) {
      const payload = frame(event);
      if (event.type === 'error') failed = true;
      // Most events are one frame: no array per event for them.
      if (typeof payload === 'string') send(payload, event, true);
      else payload?.forEach((item, index) => send(item, event, index === payload.length - 1));
    }
    if (wire.endsWithDone(failed)) writer.data('[DONE]');
  } finally {
    writer.end();
  }
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
 * A followed run as the whole SSE response: `x-astron-run-id` (and `x-astron-follow-token` when
 * given), frames with ids (resumable), the route's ending. `events` come from the run manager's
 * `follow`, which ends when the caller leaves.
 */
export async function sendFollowedRun(
  response: ServerResponse,
  options: {
    settings: StreamSettings;
    wire: SseWire;
    runId: string;
    /** What a browser `EventSource` (no headers of its own) follows the run with: `?follow_token=`. */
    followToken?: string | undefined;
    events: AsyncIterable<ChatEvent>;
    frame: EventFramer;
  },
): Promise<void> {
  response.setHeader('x-astron-run-id', options.runId);
  if (options.followToken !== undefined) response.setHeader('x-astron-follow-token', options.followToken);
  await sendRunEvents(response, options);
}

/**
 * A run read to its end by this request (not resumable) as the whole SSE response: its
 * `run-start`, then its events, in the route's framing, ending as the route ends.
 */
export function sendAttachedRun(
  response: ServerResponse,
  options: {
    settings: StreamSettings;
    wire: SseWire;
    start: ChatEvent;
    events: AsyncIterable<ChatEvent>;
    frame: EventFramer;
  },
): Promise<void> {
  return sendRunEvents(response, options);
}
