import { createChatClient, type ChatEvent } from '@astron-chat/client';
import { describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { postJson, readSse } from './support/sse.ts';
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

describe.each(testBackends())('graceful shutdown of REST streams on $name', (backend) => {
  it('lets REST runs finish up to the deadline, then ends them with a coded frame', async () => {
    const server = await startTestApp(backend, { env: { DEMO_MODEL_DELAY_MS: '20' } });
    const stream = (content: string) =>
      postJson(
        `${server.url}/agent/v1/chat/completions`,
        { bot_id: 'demo-bot', uid: 'u', stream: true, parameters: { messages: [{ role: 'user', content }] } },
        { authorization: 'Bearer sk-demo' },
      );
    const short = await stream('short');
    const long = await stream('a very long question that takes the demo model a long time to answer '.repeat(8));
    const reading = [readSse(short), readSse(long)];
    await new Promise((resolve) => setTimeout(resolve, 100));
    await server.app.close(600);
    const [shortFrames, longFrames] = await Promise.all(reading);
    // Finished within the deadline: the whole answer.
    expect(shortFrames!.data.at(-1)).toBe('[DONE]');
    expect(shortFrames!.raw).toContain('"finish_reason":"stop"');
    // Still going at the deadline: a coded, retryable end, then [DONE] — not a cut connection.
    expect(longFrames!.data.at(-1)).toBe('[DONE]');
    const last = JSON.parse(longFrames!.data.at(-2)!) as { code: number; message: string };
    expect(last.code).toBe(1010);
    expect(last.message).toMatch(/restarting/);
  });
});
