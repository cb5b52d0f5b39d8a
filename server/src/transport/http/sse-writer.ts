import type { ServerResponse } from 'node:http';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/**
 * Writes SSE frames. Frames produced in the same turn of the event loop go out in one write
 * (cork, then uncork on setImmediate): a burst of upstream chunks costs one syscall, not one each.
 * A heartbeat goes out after `pingIntervalMs` of silence.
 */
export function createSseWriter(response: ServerResponse, options: { pingIntervalMs: number; ping: string }) {
  let corked = false;
  let lastWriteAt = Date.now();
  const uncork = () => {
    corked = false;
    response.uncork();
  };
  const write = (frame: string) => {
    if (response.writableEnded || response.destroyed) return;
    if (!corked) {
      corked = true;
      response.cork();
      setImmediate(uncork);
    }
    lastWriteAt = Date.now();
    response.write(frame);
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
    end() {
      clearInterval(heartbeat);
      if (response.writableEnded) return;
      if (corked) {
        corked = false;
        response.uncork();
      }
      response.end();
    },
    close() {
      clearInterval(heartbeat);
    },
  };
}
export type SseWriter = ReturnType<typeof createSseWriter>;
