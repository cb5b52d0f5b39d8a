import { WebSocket } from 'ws';
import { createChatClientFor, type ChatClient, type ChatClientOptions } from './chat-client.ts';

/** The typed chat client on Node, whose `WebSocket` comes from the `ws` package (Node 20 has none of its own). */
export function createChatClient(options: ChatClientOptions): ChatClient {
  return createChatClientFor({ WebSocket: WebSocket as unknown as typeof globalThis.WebSocket }, options);
}
