import { createChatClient, type ChatEvent } from '@astron-chat/client';
import { describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { startTestApp } from './support/test-app.ts';

describe.each(testBackends())('graceful shutdown on $name', (backend) => {
  it('stops accepting, lets running runs finish for their followers, then closes', async () => {
    const server = await startTestApp(backend, { env: { DEMO_MODEL_DELAY_MS: '20' } });
    const client = createChatClient({ url: server.url, transport: 'sse', apiKey: 'sk-demo' });
    const events: ChatEvent[] = [];
    const streamed = (async () => {
      for await (const event of client.streamCompletion({
        bot_id: 'demo-bot',
        uid: 'u',
        parameters: { messages: [{ role: 'user', content: 'finish me before you go' }] },
      })) {
        events.push(event);
      }
    })();
    while (!events.some((event) => event.type === 'text-delta'))
      await new Promise((resolve) => setTimeout(resolve, 10));

    const closing = server.app.close(10_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
    await streamed;
    await closing;
    client.close();
    expect(events.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
    const text = events.flatMap((event) => (event.type === 'text-delta' ? [event.text] : [])).join('');
    expect(text).toContain('You said: "finish me before you go"');
  });
});
