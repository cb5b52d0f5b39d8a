import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpStatusOfCode, openaiChatRequestSchema } from '@astron-chat/shared';
import { z } from 'zod';
import type { AppError } from '../../errors/app-error.ts';
import { fromZodError } from '../../errors/app-error.ts';
import { collectAnswer } from '../../chat/collect-answer.ts';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { abortOnClose, credentialsFromHeaders, readJsonBody, retryAfterHeader, sendJson } from '../http/http-io.ts';
import { openSseStream } from '../http/sse-writer.ts';
import { createOpenAIFramer, fromOpenAIRequest, toOpenAICompletion, toOpenAIErrorBody } from './openai-frames.ts';

/** `chat_id` is our one addition to OpenAI's body (the SDKs pass extra body fields through). */
const requestSchema = openaiChatRequestSchema.extend({ chat_id: z.string().min(1).max(128).optional() });

export const OPENAI_PING_FRAME = ': ping\n\n';

/** `POST /v1/chat/completions` and `GET /v1/models`, as the OpenAI SDKs expect them. */
export function createOpenAIRoutes(dependencies: TransportDependencies) {
  const { authenticator, runs, config, bots } = dependencies;

  async function handleCompletion(request: IncomingMessage, response: ServerResponse, requestId: string) {
    const caller = await authenticator.authenticate(credentialsFromHeaders(request.headers));
    const parsed = requestSchema.safeParse(await readJsonBody(request, config.maxBodyBytes));
    if (!parsed.success) throw fromZodError(parsed.error);
    const body = parsed.data;

    const controller = abortOnClose(response);
    const { start, events } = await runs.run(
      fromOpenAIRequest(body),
      { appId: caller.appId, apiKeyId: caller.apiKeyId, requestId, transport: 'openai' },
      controller.signal,
    );
    const id = `chatcmpl-${start.runId}`;

    if (!body.stream) {
      const answer = await collectAnswer(start, events);
      if (answer.error) {
        sendJson(response, httpStatusOfCode(answer.error.code), toOpenAIErrorBody(answer.error));
        return;
      }
      sendJson(response, 200, toOpenAICompletion(answer, { id, model: body.model }));
      return;
    }

    const writer = openSseStream(response, config, OPENAI_PING_FRAME);
    const frame = createOpenAIFramer({
      id,
      created: start.created,
      model: body.model,
      includeUsage: body.stream_options?.include_usage === true,
    });
    let failed = false;
    try {
      writer.data(frame(start) as string);
      for await (const event of events) {
        const payload = frame(event);
        if (payload === undefined) continue;
        if (typeof payload === 'string') writer.data(payload);
        else for (const item of payload) writer.data(item);
        if (event.type === 'error') failed = true;
      }
      // After an in-band error OpenAI ends the stream without [DONE].
      if (!failed) writer.data('[DONE]');
    } finally {
      writer.end();
    }
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

  return { handleCompletion, handleModels };
}

export function sendOpenAIError(response: ServerResponse, error: AppError): void {
  sendJson(response, error.httpStatus, toOpenAIErrorBody(error), retryAfterHeader(error));
}
