import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { AppError } from '../../errors/app-error.ts';
import { credentialsFromHeaders, sendJson } from '../http/http-io.ts';

/** The REST reads (`/agent/v1/chats…`, `/agent/v1/usage`, `/agent/v1/runs`), for the caller's app only. */
export function createAstronReadRoutes(dependencies: TransportDependencies) {
  const { authenticator, conversations, runReads } = dependencies;

  async function handleMessages(request: IncomingMessage, response: ServerResponse, chatId: string) {
    const caller = await authenticator.authenticate(credentialsFromHeaders(request.headers));
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    const limit = query.get('limit');
    const page = await conversations.history(caller.appId, chatId, {
      limit: limit === null ? undefined : Number(limit),
      before: query.get('before') ?? undefined,
    });
    sendJson(response, 200, {
      chat_id: page.chatId,
      messages: page.messages.map((message) => ({
        id: message.id,
        role: message.role,
        content: message.content,
        ...(message.parts ? { parts: message.parts } : {}),
        reasoning_content: message.reasoningContent,
        tool_calls: message.toolCalls,
        status: message.status,
        run_id: message.runId,
        created: message.created,
      })),
      next_before: page.nextBefore ?? null,
      code: 0,
      message: 'success',
    });
  }

  async function handleUsage(request: IncomingMessage, response: ServerResponse) {
    const caller = await authenticator.authenticate(credentialsFromHeaders(request.headers));
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    const usage = await conversations.usage(caller.appId, {
      from: query.get('from') ?? undefined,
      to: query.get('to') ?? undefined,
    });
    sendJson(response, 200, {
      app_id: usage.appId,
      from: usage.from,
      to: usage.to,
      days: usage.days.map((day) => ({
        day: day.day,
        bot_id: day.botId,
        api_key_id: day.apiKeyId,
        provider: day.provider,
        runs: day.runs,
        prompt_tokens: day.promptTokens,
        completion_tokens: day.completionTokens,
        total_tokens: day.totalTokens,
        cached_tokens: day.cachedPromptTokens,
        estimated: day.estimated,
        estimated_runs: day.estimatedRuns,
      })),
      code: 0,
      message: 'success',
    });
  }

  /** `GET /agent/v1/chats?uid=…&limit=50&before=…`: one user's chats, most recently active first. */
  async function handleChats(request: IncomingMessage, response: ServerResponse) {
    const caller = await authenticator.authenticate(credentialsFromHeaders(request.headers));
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    const uid = query.get('uid');
    if (!uid) throw new AppError('VALIDATION_ERROR', 'uid is required: whose chats to list.', { param: 'uid' });
    const limit = query.get('limit');
    const page = await conversations.listChats(caller.appId, uid, {
      limit: limit === null ? undefined : Number(limit),
      before: query.get('before') ?? undefined,
    });
    sendJson(response, 200, {
      uid: page.uid,
      chats: page.chats.map((chat) => ({
        chat_id: chat.chatId,
        bot_id: chat.botId,
        title: chat.title,
        created: chat.created,
        updated: chat.updated,
      })),
      next_before: page.nextBefore ?? null,
      code: 0,
      message: 'success',
    });
  }

  /** `GET /agent/v1/runs?limit=50&before=<run id>`: the app's finished runs, newest first. */
  async function handleRuns(request: IncomingMessage, response: ServerResponse) {
    const caller = await authenticator.authenticate(credentialsFromHeaders(request.headers));
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    const limit = query.get('limit');
    const page = await runReads.list(caller.appId, {
      limit: limit === null ? undefined : Number(limit),
      before: query.get('before') ?? undefined,
    });
    sendJson(response, 200, {
      runs: page.runs.map((run) => ({
        run_id: run.runId,
        bot_id: run.botId,
        bot_version: run.botVersion,
        chat_id: run.chatId,
        uid: run.uid,
        transport: run.transport,
        status: run.status,
        finish_reason: run.finishReason,
        error_code: run.errorCode,
        total_tokens: run.totalTokens,
        time_to_first_token_ms: run.timeToFirstTokenMs,
        duration_ms: run.durationMs,
        created: run.created,
      })),
      next_before: page.nextBefore ?? null,
      code: 0,
      message: 'success',
    });
  }

  return { handleMessages, handleUsage, handleChats, handleRuns };
}
