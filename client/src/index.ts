export {
  ChatClientError,
  jitteredBackoffMs,
  toChatClientError,
  type ChatClient,
  type ChatClientOptions,
  type StreamOptions,
} from './chat-client.ts';
export { createChatClient } from './node-client.ts';
export type { AstronChatRequestInput, ChatEvent } from '@astron-chat/shared';
export { createAdminClient } from './admin-client.ts';
