import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import { createChatClientFor, type ChatClient, type ChatClientOptions } from './chat-client.ts';

/** The typed chat client on Node, whose `WebSocket` and `EventSource` come from the `ws` and `eventsource` packages. */
export function createChatClient(options: ChatClientOptions): ChatClient {
  return createChatClientFor(
    {
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      EventSource: EventSource as typeof globalThis.EventSource,
    },
    options,
  );
}
