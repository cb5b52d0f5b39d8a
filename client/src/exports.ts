// What both entries (index.ts for Node, browser.ts) export besides their own `createChatClient`.
export {
  ChatClientError,
  jitteredBackoffMs,
  toChatClientError,
  type ChatClient,
  type ChatClientOptions,
  type StreamOptions,
} from './chat-client.ts';
export type { AstronChatRequestInput, ChatEvent } from '@astron-chat/shared';
export { createAdminClient } from './admin-client.ts';
