import type { ServerResponse } from 'node:http';
import type { StreamSettings } from '../transport-dependencies.ts';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/**
 * Writes SSE frames. Frames handed over together (the events of one upstream read, or one batch of
 * the run log) are joined and go out in one write as soon as that hand-over is done: the write is a
 * `process.nextTick`, which runs once the promise chain that framed them has settled, before any
 * I/O. A burst costs one syscall and one HTTP chunk, not one each, and nothing waits for the turn
 * to end. A heartbeat goes out after `pingIntervalMs` of silence. What the
 * response holds unsent counts in the unsent-bytes budget (lib/unsent-budget.ts): past its per-stream
 * bound (STREAM_MAX_BUFFERED_BYTES), frames wait for the reader to catch up; a reader that does not
 * (or one among the largest once the server's total passes STREAM_MAX_TOTAL_BUFFERED_BYTES) has
 * its response closed, and the run is then cancelled.
 */
export function createSseWriter(
  response: ServerResponse,
  options: { pingIntervalMs: number; ping: string; unsent: StreamSettings['unsent']; transport: string },
) {
  let pending = '';
  let lastWriteAt = Date.now();
  const unsent = options.unsent.register(
    options.transport,
    () => response.writableLength,
    () => response.destroy(new Error('slow consumer')),
    flush,
  );
  response.once('close', unsent.release);
  /** Over the per-stream bound: what is pending waits for the reader (lib/unsent-budget.ts). */
  let holding = false;
  function flush() {
    if (pending === '' || response.writableEnded || response.destroyed) return;
    // Held, it waits until the budget resumes us (the reader caught up), or is cut; each frame that
    // joins it looks again, so what is held stays within the bound too.
    holding = !unsent.mayWrite(pending.length);
    if (holding) return;
    const text = pending;
    pending = '';
    response.write(text);
    unsent.wrote();
  }
  const write = (frame: string) => {
    if (response.writableEnded || response.destroyed) return;
    if (pending === '') process.nextTick(flush);
    pending += frame;
    if (holding) flush();
    lastWriteAt = Date.now();
  };
  const heartbeat = setInterval(
    () => {
      if (Date.now() - lastWriteAt >= options.pingIntervalMs) write(options.ping);
    },
    Math.max(50, Math.floor(options.pingIntervalMs / 2)),
  );
  heartbeat.unref();

  return {
    /** One `data:` frame; JSON never contains a raw newline, so one line is always right. */
    data(payload: string) {
      write(`data: ${payload}\n\n`);
    },
    /** A whole frame as given: a constant, or one made by `sseFrame`. */
    frame(text: string) {
      write(text);
    },
    /** One message with its own `event:` and `id:` fields (see `sseFrame`). */
    message(message: SseMessage) {
      write(sseFrame(message));
    },
    /** Sends what is pending with the end of the response, in one write. */
    end() {
      clearInterval(heartbeat);
      if (response.writableEnded) return;
      const text = pending;
      pending = '';
      response.end(text);
    },
  };
}
type SseWriter = ReturnType<typeof createSseWriter>;

/** `data` is one line (JSON never holds a raw newline); `event` and `id` are names, one line each. */
export type SseMessage = { data: string; event?: string | undefined; id?: string | undefined };

const LINE_BREAK = /[\r\n]/;

/**
 * One SSE message as text. A line break in `event` or `id` would end the field early and let the
 * rest be read as fields of its own (another `id:`, a `data:` line), so it is refused, as hono does.
 */
export function sseFrame(message: SseMessage): string {
  let frame = '';
  if (message.event !== undefined) {
    if (LINE_BREAK.test(message.event)) throw new Error('An SSE event name must not contain \\r or \\n.');
    frame += `event: ${message.event}\n`;
  }
  frame += `data: ${message.data}\n`;
  if (message.id !== undefined) {
    if (LINE_BREAK.test(message.id)) throw new Error('An SSE id must not contain \\r or \\n.');
    frame += `id: ${message.id}\n`;
  }
  return `${frame}\n`;
}

/** Starts an SSE response with the stream settings (heartbeat, unsent-bytes budget); `transport` labels its cuts. */
export function openSseStream(
  response: ServerResponse,
  settings: StreamSettings,
  ping: string,
  transport: string,
): SseWriter {
  response.writeHead(200, SSE_HEADERS);
  return createSseWriter(response, {
    pingIntervalMs: settings.pingIntervalMs,
    ping,
    unsent: settings.unsent,
    transport,
  });
}
