import type { WebSocket } from 'ws';

/** Close code for a reader that lets more than STREAM_MAX_BUFFERED_BYTES pile up unsent. */
export const SLOW_CONSUMER_CLOSE_CODE = 4008;

/**
 * What every WebSocket of ours does with its socket: a ping every `pingIntervalMs` (a socket that
 * did not answer the last one is terminated), and `send`, which closes the socket with 4008 rather
 * than buffer past `streamMaxBufferedBytes`, so memory per socket stays bounded. `send` is false
 * when the message was not sent. `stop()` ends the pings (on close).
 */
export function openSocketIo(socket: WebSocket, settings: { pingIntervalMs: number; streamMaxBufferedBytes: number }) {
  let alive = true;
  const heartbeat = setInterval(() => {
    if (!alive) {
      socket.terminate();
      return;
    }
    alive = false;
    socket.ping();
  }, settings.pingIntervalMs);
  socket.on('pong', () => {
    alive = true;
  });
  return {
    send: (message: string): boolean => {
      if (socket.readyState !== socket.OPEN) return false;
      if (socket.bufferedAmount > settings.streamMaxBufferedBytes) {
        socket.close(
          SLOW_CONSUMER_CLOSE_CODE,
          `slow consumer: more than ${settings.streamMaxBufferedBytes} bytes unsent`,
        );
        return false;
      }
      socket.send(message);
      return true;
    },
    stop: () => clearInterval(heartbeat),
  };
}
