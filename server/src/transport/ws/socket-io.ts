import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AppError } from '../../errors/app-error.ts';
import type { StreamSettings } from '../transport-dependencies.ts';

/** Close code for a reader that lets more than STREAM_MAX_BUFFERED_BYTES pile up unsent, or is cut for the total. */
export const SLOW_CONSUMER_CLOSE_CODE = 4008;

/** Close code of a WebSocket refused because this instance is overloaded: RFC 6455's "Try Again Later". */
export const TRY_AGAIN_LATER_CLOSE_CODE = 1013;

let refusals: WebSocketServer | undefined;

/**
 * Refuses a WebSocket in a way every client can read, browsers included (they never see an HTTP
 * status): the handshake completes and the socket is closed at once with 1013 and the coded
 * refusal as its reason, `{"code":1010,"message":"overloaded","retry_after":1}`.
 */
export function refuseWebSocket(request: IncomingMessage, socket: Duplex, head: Buffer, error: AppError): void {
  refusals ??= new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: 1024 });
  refusals.handleUpgrade(request, socket, head, (webSocket) => {
    const reason = { code: error.code, message: 'overloaded', retry_after: error.retryAfterSeconds };
    webSocket.close(TRY_AGAIN_LATER_CLOSE_CODE, JSON.stringify(reason));
  });
}

/**
 * A socket cut for the server's total waits this long for its close frame, which queues behind
 * what it holds unsent, then is terminated: the point of the total is to free that memory.
 */
const TOTAL_CUT_GRACE_MS = 1_000;

/**
 * What every WebSocket of ours does with its socket: a ping every `pingIntervalMs` (a socket that
 * did not answer the last one is terminated), and `send`, which keeps to the unsent-bytes budget
 * (lib/unsent-budget.ts): over STREAM_MAX_BUFFERED_BYTES, messages wait here, in order, for the
 * reader to catch up; a reader that does not, or one among the largest once the server's total
 * passes STREAM_MAX_TOTAL_BUFFERED_BYTES, has its socket closed with 4008, so memory stays bounded.
 * `send` is false when the socket is closed (or was just cut). `stop()` ends the pings (on close).
 */
export function openSocketIo(socket: WebSocket, settings: StreamSettings, transport: string) {
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
  /** Messages waiting, in order, while the socket is over its per-stream bound (lib/unsent-budget.ts). */
  let held: string[] = [];
  let heldBytes = 0;
  const drop = () => {
    held = [];
    heldBytes = 0;
  };
  /** All that is held goes out together once the reader is back under the bound (it is within the bound itself). */
  const sendHeld = () => {
    if (held.length === 0 || socket.readyState !== socket.OPEN || !unsent.mayWrite(heldBytes)) return;
    for (const message of held) socket.send(message);
    drop();
    unsent.wrote();
  };
  const unsent = settings.unsent.register(
    transport,
    () => socket.bufferedAmount,
    (limit, reason) => {
      drop();
      socket.close(SLOW_CONSUMER_CLOSE_CODE, reason);
      if (limit === 'total') setTimeout(() => socket.terminate(), TOTAL_CUT_GRACE_MS).unref();
    },
    sendHeld,
  );
  return {
    send: (message: string): boolean => {
      if (socket.readyState !== socket.OPEN) return false;
      if (held.length === 0 && unsent.mayWrite(message.length)) {
        socket.send(message);
        unsent.wrote();
        return true;
      }
      // Over the bound: it waits behind what is held, until the reader catches up or is cut.
      held.push(message);
      heldBytes += message.length;
      sendHeld();
      return socket.readyState === socket.OPEN;
    },
    stop: () => {
      clearInterval(heartbeat);
      drop();
      unsent.release();
    },
  };
}
