import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { astronChatRequestSchema } from '@astron-chat/shared';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from 'zod';
import { AppError, fromZodError, toAppError } from '../../errors/app-error.ts';
import type { Caller } from '../../auth/authenticator.ts';
import { tracing } from '../../observability/tracing.ts';
import { createId } from '../../lib/ids.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { refuseUpgrade, requestIdOf } from '../http/http-io.ts';
import { createAstronFramer, fromAstronRequest } from '../astron/astron-frames.ts';
import { openSocketIo } from './socket-io.ts';

const requestIdSchema = z.string().min(1).max(128);
const runIdSchema = z.string().min(1).max(64);
const controlSchema = z.discriminatedUnion('type', [
  z
    .object({ type: z.literal('cancel'), request_id: requestIdSchema.optional(), run_id: runIdSchema.optional() })
    .refine((message) => message.request_id ?? message.run_id, { message: 'cancel needs request_id or run_id' }),
  z.object({
    type: z.literal('subscribe'),
    run_id: runIdSchema,
    request_id: requestIdSchema.optional(),
    after_seq: z.number().int().min(-1).optional(),
  }),
]);
const runMessageSchema = astronChatRequestSchema.and(z.object({ request_id: requestIdSchema.optional() }));

/**
 * `/agent/v1/ws?appid&ts&signa` — the plain WebSocket for voice and broadcast frontends. Several
 * runs may share one socket; every frame carries its `request_id`.
 */
export function createAstronWebSocket(dependencies: TransportDependencies) {
  const { authenticator, runs, config, logger, streams: streamSettings } = dependencies;
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

  function onConnection(socket: WebSocket, caller: Caller, connectionId: string, headers: IncomingHttpHeaders) {
    /** What this socket streams now, by request_id; closing the socket stops the streaming, not the runs. */
    const streams = new Map<string, { controller: AbortController; runId: string }>();
    const { send, stop } = openSocketIo(socket, streamSettings, 'ws');
    /**
     * Streams a run's frames tagged with `request_id`; the run itself outlives this socket. The
     * credentials are checked again first (a disabled app or a revoked secret applies at once); if
     * they are no longer valid, the socket closes after saying why.
     */
    async function stream(requestId: string, start: () => Promise<string>, afterSeq: number) {
      if (streams.has(requestId)) {
        const message = `request_id "${requestId}" is already streaming on this socket.`;
        sendError(socket, requestId, new AppError('VALIDATION_ERROR', message, { param: 'request_id' }));
        return;
      }
      const entry = { controller: new AbortController(), runId: '' };
      streams.set(requestId, entry);
      try {
        await authenticator.recheck(caller);
      } catch (error) {
        streams.delete(requestId);
        sendError(socket, requestId, toAppError(error));
        socket.close(1008, 'credentials no longer valid');
        return;
      }
      try {
        entry.runId = await start();
        // From the run's own start, so that a subscriber joining mid-run sees the starter's header fields.
        const frame = createAstronFramer(await runs.runStart(caller.appId, entry.runId), { request_id: requestId });
        for await (const event of runs.follow(caller.appId, entry.runId, afterSeq, entry.controller.signal)) {
          const payload = frame(event);
          // `seq` lets a client that reconnects subscribe again after the last frame it saw.
          if (payload !== undefined && !send(`${payload.slice(0, -1)},"seq":${event.seq}}`)) break;
        }
      } catch (error) {
        sendError(socket, requestId, toAppError(error));
      } finally {
        streams.delete(requestId);
      }
    }

    function cancel(runId: string | undefined, requestId: string | undefined) {
      if (!runId) {
        sendError(
          socket,
          requestId,
          new AppError('NOT_FOUND', `Nothing is running as request_id "${requestId}" on this socket.`, {
            param: 'request_id',
          }),
        );
        return;
      }
      runs.cancel(caller.appId, runId).catch((error: unknown) => sendError(socket, requestId, toAppError(error)));
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
          const { request_id: requestId, run_id: runId } = control.data;
          cancel(runId ?? (requestId === undefined ? undefined : streams.get(requestId)?.runId), requestId);
        } else {
          const { run_id: runId, request_id: requestId, after_seq: afterSeq } = control.data;
          void stream(requestId ?? runId, () => Promise.resolve(runId), afterSeq ?? -1);
        }
        return;
      }
      const parsed = runMessageSchema.safeParse(body);
      if (!parsed.success) {
        const requestId = (body as { request_id?: unknown } | null)?.request_id;
        sendError(socket, typeof requestId === 'string' ? requestId : undefined, fromZodError(parsed.error));
        return;
      }
      const requestId = parsed.data.request_id ?? createId('req');
      const context = { appId: caller.appId, requestId: `${connectionId}/${requestId}`, transport: 'ws' as const };
      const started = () =>
        stream(requestId, async () => (await runs.start(fromAstronRequest(parsed.data), context)).runId, -1);
      // With tracing on, a server span per run message, continuing the upgrade's traceparent.
      const span = tracing.enabled
        ? tracing.startServer('ws.message', headers, {
            'astron.request_id': context.requestId,
            'network.protocol.name': 'websocket',
          })
        : undefined;
      void (span ? span.run(started).finally(() => span.end('/agent/v1/ws')) : started());
    });

    socket.on('close', () => {
      stop();
      for (const { controller } of streams.values()) controller.abort();
      streams.clear();
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
        refuseUpgrade(socket, toAppError(error));
        return;
      }
      wss.handleUpgrade(request, socket, head, (webSocket) =>
        onConnection(webSocket, caller, connectionId, request.headers),
      );
    },
    close() {
      for (const client of wss.clients) client.close(1001, 'server shutting down');
      wss.close();
    },
  };
}
