// The browser entry (the `browser` export condition): the same API as index.ts on the browser's own
// WebSocket, so a page bundles no `ws` or Node built-ins. SSE runs on `fetch` (the `eventsource`
// package) in both, so that the API key goes in a header, not the URL.
import { createChatClientFor, type ChatClient, type ChatClientOptions } from './chat-client.ts';

export * from './exports.ts';

/** The typed chat client on the browser's `WebSocket` and `fetch`. */
export function createChatClient(options: ChatClientOptions): ChatClient {
  return createChatClientFor({ WebSocket: globalThis.WebSocket }, options);
}
