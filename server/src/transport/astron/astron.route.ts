import type { IncomingMessage, ServerResponse } from 'node:http';
import { astronChatRequestSchema, httpStatusOfCode } from '@astron-chat/shared';
import type { AppError } from '../../errors/app-error.ts';
import { fromZodError } from '../../errors/app-error.ts';
import { collectAnswer } from '../../chat/collect-answer.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { abortOnClose, credentialsFromHeaders, readJsonBody, retryAfterHeader, sendJson } from '../http/http-io.ts';
import { isResumable, sendAttachedRun, sendFollowedRun, startResumableRun } from '../http/run-sse.ts';
import { ASTRON_WIRE, createAstronFramer, fromAstronRequest, toAstronCompletion } from './astron-frames.ts';

/** `POST /agent/v1/chat/completions` — the seed's format, SSE or one JSON answer. */
export function createAstronRoute(dependencies: TransportDependencies) {
  const { authenticator, runs, config, streams } = dependencies;

  return async function handleAstronCompletion(request: IncomingMessage, response: ServerResponse, requestId: string) {
    const credentials = credentialsFromHeaders(request.headers);
    const caller = await authenticator.authenticate(credentials);
    const parsed = astronChatRequestSchema.safeParse(await readJsonBody(request, config.maxBodyBytes));
    if (!parsed.success) throw fromZodError(parsed.error);

    const controller = abortOnClose(response);
    const context = { appId: caller.appId, apiKeyId: caller.apiKeyId, requestId, transport: 'astron' as const };
    if (parsed.data.stream && isResumable(request.headers)) {
      // Outlives this connection (orphan timeout); GET /agent/v1/runs/{run_id}/stream resumes it.
      const { runId, afterSeq } = await startResumableRun(runs, {
        request: fromAstronRequest(parsed.data),
        context,
        headers: request.headers,
      });
      await sendFollowedRun(response, {
        settings: streams,
        wire: ASTRON_WIRE,
        runId,
        followToken: authenticator.issueFollowToken(credentials, caller, runId),
        events: runs.follow(caller.appId, runId, afterSeq, controller.signal),
        frame: createAstronFramer(await runs.runStart(caller.appId, runId)),
      });
      return;
    }

    const { start, events } = await runs.run(fromAstronRequest(parsed.data), context, controller);

    if (!parsed.data.stream) {
      const answer = await collectAnswer(start, events);
      const status = answer.error ? httpStatusOfCode(answer.error.code) : 200;
      sendJson(response, status, toAstronCompletion(answer), answer.error ? retryAfterHeader(answer.error) : {});
      return;
    }

    await sendAttachedRun(response, {
      settings: streams,
      wire: ASTRON_WIRE,
      start,
      events,
      frame: createAstronFramer(start),
    });
  };
}

export function sendAstronError(response: ServerResponse, error: AppError, requestId: string): void {
  sendJson(
    response,
    error.httpStatus,
    { code: error.code, message: error.message, ...(error.param ? { param: error.param } : {}), request_id: requestId },
    retryAfterHeader(error),
  );
}
