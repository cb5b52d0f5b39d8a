import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpStatusOfCode, openaiChatRequestSchema, type ChatEvent } from '@astron-chat/shared';
import { z } from 'zod';
import { AppError, fromZodError } from '../../errors/app-error.ts';
import { collectAnswer } from '../../chat/collect-answer.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { abortOnClose, credentialsFromHeaders, readJsonBody, retryAfterHeader, sendJson } from '../http/http-io.ts';
import { isResumable, sendAttachedRun, sendFollowedRun, startResumableRun } from '../http/run-sse.ts';
import {
  createOpenAIFramer,
  fromOpenAIRequest,
  OPENAI_WIRE,
  toOpenAICompletion,
  toOpenAIErrorBody,
} from './openai-frames.ts';

/** `chat_id` is our one addition to OpenAI's body (the SDKs pass extra body fields through). */
const requestSchema = openaiChatRequestSchema.extend({ chat_id: z.string().min(1).max(128).optional() });

/** `POST /v1/chat/completions` and `GET /v1/models`, as the OpenAI SDKs expect them. */
export function createOpenAIRoutes(dependencies: TransportDependencies) {
  const { authenticator, runs, config, bots, streams } = dependencies;

  async function handleCompletion(request: IncomingMessage, response: ServerResponse, requestId: string) {
    const credentials = credentialsFromHeaders(request.headers);
    const caller = await authenticator.authenticate(credentials);
    const parsed = requestSchema.safeParse(await readJsonBody(request, config.maxBodyBytes));
    if (!parsed.success) throw fromZodError(parsed.error);
    const body = parsed.data;

    const controller = abortOnClose(response);
    const context = { appId: caller.appId, apiKeyId: caller.apiKeyId, requestId, transport: 'openai' as const };
    const framing = (runStart: Extract<ChatEvent, { type: 'run-start' }>) =>
      createOpenAIFramer({
        id: `chatcmpl-${runStart.runId}`,
        created: runStart.created,
        model: body.model,
        includeUsage: body.stream_options?.include_usage === true,
      });
    if (body.stream && isResumable(request.headers)) {
      // Outlives this connection (orphan timeout); GET /agent/v1/runs/{run_id}/stream resumes it.
      const { runId, afterSeq } = await startResumableRun(runs, {
        request: fromOpenAIRequest(body),
        context,
        headers: request.headers,
      });
      await sendFollowedRun(response, {
        settings: streams,
        wire: OPENAI_WIRE,
        runId,
        followToken: authenticator.issueFollowToken(credentials, caller, runId),
        events: runs.follow(caller.appId, runId, afterSeq, controller.signal),
        frame: framing(await runs.runStart(caller.appId, runId)),
      });
      return;
    }

    const { start, events } = await runs.run(fromOpenAIRequest(body), context, controller);
    const id = `chatcmpl-${start.runId}`;

    if (!body.stream) {
      const answer = await collectAnswer(start, events);
      if (answer.error) {
        sendJson(
          response,
          httpStatusOfCode(answer.error.code),
          toOpenAIErrorBody(answer.error),
          retryAfterHeader(answer.error),
        );
        return;
      }
      sendJson(response, 200, toOpenAICompletion(answer, { id, model: body.model }));
      return;
    }

    await sendAttachedRun(response, { settings: streams, wire: OPENAI_WIRE, start, events, frame: framing(start) });
  }

  async function handleModels(request: IncomingMessage, response: ServerResponse) {
    const caller = await authenticator.authenticate(credentialsFromHeaders(request.headers));
    const list = await bots.listBots(caller.appId);
    sendJson(response, 200, {
      object: 'list',
      data: list.map((bot) => ({
        id: bot.id,
        object: 'model',
        created: Math.floor(bot.created_at / 1000),
        owned_by: caller.appId,
      })),
    });
  }

  /** `GET /v1/models/{id}`: one of the app's bots in OpenAI's model shape; 404 with an OpenAI error body otherwise. */
  async function handleModel(request: IncomingMessage, response: ServerResponse, _requestId: string, params: string[]) {
    const caller = await authenticator.authenticate(credentialsFromHeaders(request.headers));
    const id = params[0] ?? '';
    const bot = (await bots.listBots(caller.appId)).find((candidate) => candidate.id === id);
    if (!bot) throw new AppError('NOT_FOUND', `The model '${id}' does not exist.`, { param: 'model' });
    sendJson(response, 200, {
      id: bot.id,
      object: 'model',
      created: Math.floor(bot.created_at / 1000),
      owned_by: caller.appId,
    });
  }

  return { handleCompletion, handleModels, handleModel };
}

export function sendOpenAIError(response: ServerResponse, error: AppError): void {
  sendJson(response, error.httpStatus, toOpenAIErrorBody(error), retryAfterHeader(error));
}
