// What both entries (index.ts for Node, browser.ts) export besides their own `createChatClient`.
export {
  jitteredBackoffMs,
  newIdempotencyKey,
  type ChatClient,
  type ChatClientOptions,
  type CompletionOptions,
  type StreamOptions,
} from './chat-client.ts';
export { ChatClientError, toChatClientError } from './errors.ts';
export type { AstronChatRequestInput, ChatEvent } from '@astron-chat/shared';
export { createAdminClient } from './admin-client.ts';
