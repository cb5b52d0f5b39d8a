// The browser entry (the `browser` export condition): the same API as index.ts on the browser's own
// WebSocket and EventSource, so a page bundles no `ws`, `eventsource` or Node built-ins.
import { createChatClientFor, type ChatClient, type ChatClientOptions } from './chat-client.ts';

export * from './exports.ts';

/** The typed chat client on the browser's `WebSocket` and `EventSource`. */
export function createChatClient(options: ChatClientOptions): ChatClient {
  return createChatClientFor({ WebSocket: globalThis.WebSocket, EventSource: globalThis.EventSource }, options);
}
