import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { astronChatRequestSchema, type ChatEvent } from '@astron-chat/shared';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from 'zod';
import { AppError, fromZodError, toAppError } from '../../errors/app-error.ts';
import type { Caller } from '../../auth/authenticator.ts';
import { createId } from '../../lib/ids.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { requestIdOf } from '../http/http-io.ts';
import { createAstronFramer, fromAstronRequest } from '../astron/astron-frames.ts';

/** Close code for a reader that lets more than WS_MAX_BUFFERED_BYTES pile up unsent. */
export const SLOW_CONSUMER_CLOSE_CODE = 4008;

const requestIdSchema = z.string().min(1).max(128);
const controlSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('cancel'), request_id: requestIdSchema }),
  z.object({ type: z.literal('subscribe'), run_id: z.string().min(1).max(64) }),
]);
const runMessageSchema = astronChatRequestSchema.and(z.object({ request_id: requestIdSchema.optional() }));

/**
 * `/agent/v1/ws?appid&ts&signa` — the plain WebSocket for voice and broadcast frontends. Several
 * runs may share one socket; every frame carries its `request_id`.
 */
export function createAstronWebSocket(dependencies: TransportDependencies) {
  const { authenticator, chat, config, logger } = dependencies;
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxBodyBytes });

  function sendError(socket: WebSocket, requestId: string | undefined, error: AppError) {
    if (socket.readyState !== socket.OPEN) return;
    socket.send(
      JSON.stringify({
        ...(requestId === undefined ? {} : { request_id: requestId }),
        object: 'error',
        code: error.code,
        message: error.message,
        choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
      }),
    );
  }

  function onConnection(socket: WebSocket, caller: Caller, connectionId: string) {
    const runs = new Map<string, AbortController>();
    let alive = true;
    const heartbeat = setInterval(() => {
      if (!alive) {
        socket.terminate();
        return;
      }
      alive = false;
      socket.ping();
    }, config.pingIntervalMs);
    socket.on('pong', () => {
      alive = true;
    });

    /** Sends or, past the buffer limit, closes the socket: memory per socket stays bounded. */
    const send = (frame: string): boolean => {
      if (socket.readyState !== socket.OPEN) return false;
      if (socket.bufferedAmount > config.wsMaxBufferedBytes) {
        socket.close(SLOW_CONSUMER_CLOSE_CODE, `slow consumer: more than ${config.wsMaxBufferedBytes} bytes unsent`);
        return false;
      }
      socket.send(frame);
      return true;
    };

    async function run(message: z.infer<typeof runMessageSchema>) {
      const requestId = message.request_id ?? createId('req');
      if (runs.has(requestId)) {
        sendError(
          socket,
          requestId,
          new AppError('VALIDATION_ERROR', `request_id "${requestId}" is already running on this socket.`, {
            param: 'request_id',
          }),
        );
        return;
      }
      const controller = new AbortController();
      runs.set(requestId, controller);
      try {
        const events = chat.runChat(
          fromAstronRequest(message),
          { appId: caller.appId, requestId: `${connectionId}/${requestId}`, transport: 'ws' },
          controller.signal,
        );
        let frame: ((event: ChatEvent) => string | undefined) | undefined;
        for await (const event of events) {
          if (event.type === 'run-start') frame = createAstronFramer(event, { request_id: requestId });
          const payload = frame?.(event);
          if (payload !== undefined && !send(payload)) break;
        }
      } catch (error) {
        sendError(socket, requestId, toAppError(error));
      } finally {
        runs.delete(requestId);
      }
    }

    socket.on('message', (data: RawData, isBinary: boolean) => {
      let body: unknown;
      try {
        body = JSON.parse(isBinary ? '' : (data as Buffer).toString('utf8'));
      } catch {
        sendError(socket, undefined, new AppError('VALIDATION_ERROR', 'Messages must be JSON text.'));
        return;
      }
      const type = (body as { type?: unknown } | null)?.type;
      if (type !== undefined) {
        const control = controlSchema.safeParse(body);
        if (!control.success) {
          sendError(socket, undefined, fromZodError(control.error));
        } else if (control.data.type === 'cancel') {
          runs.get(control.data.request_id)?.abort();
        } else {
          sendError(
            socket,
            undefined,
            new AppError('NOT_FOUND', `Run "${control.data.run_id}" cannot be followed on this server.`, {
              param: 'run_id',
            }),
          );
        }
        return;
      }
      const parsed = runMessageSchema.safeParse(body);
      if (!parsed.success) {
        const requestId = (body as { request_id?: unknown } | null)?.request_id;
        sendError(socket, typeof requestId === 'string' ? requestId : undefined, fromZodError(parsed.error));
        return;
      }
      void run(parsed.data);
    });

    socket.on('close', () => {
      clearInterval(heartbeat);
      for (const controller of runs.values()) controller.abort();
      runs.clear();
    });
    socket.on('error', (error) => logger.warn({ err: error, connectionId }, 'websocket error'));
  }

  return {
    /** Authenticates the upgrade; a refused one gets a plain HTTP answer with the code table's status. */
    async handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const connectionId = requestIdOf(request.headers);
      let caller: Caller;
      try {
        caller = await authenticator.verifySignature({
          appid: url.searchParams.get('appid') ?? undefined,
          ts: url.searchParams.get('ts') ?? undefined,
          // A `+` sent unencoded arrives as a space; put it back.
          signa: url.searchParams.get('signa')?.replaceAll(' ', '+'),
        });
      } catch (error) {
        const appError = toAppError(error);
        const body = JSON.stringify({ code: appError.code, message: appError.message });
        socket.end(
          `HTTP/1.1 ${appError.httpStatus} ${appError.errorName}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
        return;
      }
      wss.handleUpgrade(request, socket, head, (webSocket) => onConnection(webSocket, caller, connectionId));
    },
    close() {
      for (const client of wss.clients) client.close(1001, 'server shutting down');
      wss.close();
    },
  };
}
