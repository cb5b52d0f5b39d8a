import type { IncomingMessage, ServerResponse } from 'node:http';
import { FOLLOW_TOKEN_PARAM } from '../../auth/authenticator.ts';
import { toRunStart } from '../../run-log/run-log.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { abortOnClose, credentialsFromHeaders, firstHeader } from '../http/http-io.ts';
import { resumePoint, sendFollowedRun } from '../http/run-sse.ts';
import { createOpenAIFramer, OPENAI_WIRE } from '../openai/openai-frames.ts';
import { ASTRON_WIRE, createAstronFramer } from './astron-frames.ts';

/**
 * `GET /agent/v1/runs/{run_id}/stream`: a run of the caller's app from any instance, as SSE — what
 * came after `Last-Event-ID: <run_id>:<seq>` (or `?after_seq=N`; from the start without either),
 * then live, in the framing of the route that started it (OpenAI chunks for `/v1`, Astron frames
 * otherwise), ending as that route ends. Any number of followers; each keeps the run from being
 * orphaned while it reads. Frames carry `id:`, so an EventSource resumes by itself; it authenticates
 * with `?follow_token=` (the `x-astron-follow-token` of the starting response), as it sends no headers.
 */
export function createRunStreamRoute(dependencies: TransportDependencies) {
  const { authenticator, runs, streams } = dependencies;
  return async function handleRunStream(
    request: IncomingMessage,
    response: ServerResponse,
    _requestId: string,
    params: string[],
  ) {
    const runId = params[0] ?? '';
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    const credentials = credentialsFromHeaders(request.headers);
    const followToken = query.get(FOLLOW_TOKEN_PARAM);
    // A browser EventSource cannot send headers: it follows with the run's follow token instead.
    const caller =
      followToken !== null && !credentials.apiKey && !credentials.consumer
        ? await authenticator.authenticateFollowToken(followToken, runId)
        : await authenticator.authenticate(credentials);
    const lastEventId = firstHeader(request.headers['last-event-id']);
    const afterSeq = resumePoint(runId, lastEventId, query.get('after_seq'));
    const owner = await runs.owner(caller.appId, runId);
    const start = toRunStart(owner);
    const openai = owner.transport === 'openai';
    const frame = openai
      ? createOpenAIFramer({
          id: `chatcmpl-${runId}`,
          created: start.created,
          // The OpenAI route's `model` is the bot id.
          model: owner.botId,
          includeUsage: query.get('include_usage') === 'true',
        })
      : createAstronFramer(start);

    const controller = abortOnClose(response);
    await sendFollowedRun(response, {
      settings: streams,
      // Slow-consumer cuts are labelled with the transport that started the run.
      wire: { ...(openai ? OPENAI_WIRE : ASTRON_WIRE), transport: owner.transport },
      runId,
      events: runs.follow(caller.appId, runId, afterSeq, controller.signal),
      frame,
    });
  };
}
