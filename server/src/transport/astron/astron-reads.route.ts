import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { credentialsFromHeaders, sendJson } from '../http/http-io.ts';

/** `GET /agent/v1/chats/{chat_id}/messages` and `GET /agent/v1/usage`, for the caller's app only. */
export function createAstronReadRoutes(dependencies: TransportDependencies) {
  const { authenticator, conversations } = dependencies;

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
      })),
      code: 0,
      message: 'success',
    });
  }

  return { handleMessages, handleUsage };
}
