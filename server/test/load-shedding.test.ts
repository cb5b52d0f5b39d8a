import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testBackends } from './support/backends.ts';
import { eventually, postJson } from './support/sse.ts';
import { demoWebSocketUrl, startTestApp, type TestApp } from './support/test-app.ts';

const question = { role: 'user', content: 'Hello' };
const astronBody = { bot_id: 'demo-bot', uid: 'u', parameters: { messages: [question] } };

/** Keeps this process's event loop busy 300 ms of every 310: every callback runs about 250 ms late. */
function blockEventLoop(): () => void {
  const timer = setInterval(() => {
    const until = performance.now() + 300;
    while (performance.now() < until) {
      // busy: nothing else runs
    }
  }, 310);
  return () => clearInterval(timer);
}

/** A WebSocket opened now: when it opens, and how it closes (code and reason). */
function openSocket(url: string) {
  const socket = new WebSocket(url);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const opened = new Promise<void>((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return { socket, opened, closed };
}

describe.each(testBackends())('load shedding on $name', (backend) => {
  let server: TestApp;
  const plainWsUrl = () => demoWebSocketUrl(server);
  const metricsText = async () => (await fetch(`${server.url}/metrics`)).text();

  beforeAll(async () => {
    // A low threshold, and a demo model slow enough (23 words, 150 ms apart) that a run accepted
    // before the overload is still streaming through it.
    server = await startTestApp(backend, { env: { OVERLOAD_LAG_MS: '100', DEMO_MODEL_DELAY_MS: '150' } });
  });
  afterAll(() => server.close());

  it('refuses new runs and WebSockets with 1010 while the event loop lags, never cuts accepted runs, then recovers', async () => {
    // Before the overload (on a busy machine this process may lag by itself for a moment): a plain
    // WebSocket streaming a run, and an open tRPC WebSocket.
    await eventually(() => Promise.resolve(server.app.dependencies.overload.lagMs() <= 100), 10_000);
    const plain = openSocket(plainWsUrl());
    await plain.opened;
    const frames: Array<Record<string, any>> = [];
    plain.socket.on('message', (data) => frames.push(JSON.parse((data as Buffer).toString()) as Record<string, any>));
    plain.socket.send(JSON.stringify({ request_id: 'accepted', ...astronBody }));
    await eventually(() => Promise.resolve(frames.some((frame) => frame.choices?.[0]?.delta?.content)), 10_000);
    const trpc = openSocket(`${server.wsUrl}/trpc?connectionParams=1`);
    await trpc.opened;
    const trpcMessages: string[] = [];
    trpc.socket.on('message', (data) => trpcMessages.push((data as Buffer).toString()));
    trpc.socket.send(JSON.stringify({ method: 'connectionParams', data: { apiKey: 'sk-demo' } }));

    const unblock = blockEventLoop();
    try {
      await eventually(() => Promise.resolve(server.app.dependencies.overload.lagMs() > 100), 10_000);

      // REST, both routes: 503, code 1010, Retry-After.
      const openai = await postJson(
        `${server.url}/v1/chat/completions`,
        { model: 'demo-bot', stream: true, messages: [question] },
        { authorization: 'Bearer sk-demo' },
      );
      expect(openai.status).toBe(503);
      expect(openai.headers.get('retry-after')).toBe('1');
      expect(await openai.json()).toMatchObject({ error: { code: '1010', type: 'overloaded_error' } });
      const astron = await postJson(
        `${server.url}/agent/v1/chat/completions`,
        { ...astronBody, stream: true },
        { authorization: 'Bearer sk-demo' },
      );
      expect(astron.status).toBe(503);
      expect(astron.headers.get('retry-after')).toBe('1');
      expect(await astron.json()).toMatchObject({ code: 1010 });

      // New WebSockets, tRPC and plain: closed at once with 1013 and the coded refusal.
      for (const url of [`${server.wsUrl}/trpc?connectionParams=1`, plainWsUrl()]) {
        const refused = openSocket(url);
        const { code, reason } = await refused.closed;
        expect(code).toBe(1013);
        expect(JSON.parse(reason)).toEqual({ code: 1010, message: 'overloaded', retry_after: 1 });
      }

      // New runs on sockets opened before: their coded error frames.
      plain.socket.send(JSON.stringify({ request_id: 'new', ...astronBody }));
      const refusedRun = await eventually(() => Promise.resolve(frames.find((frame) => frame.request_id === 'new')));
      expect(refusedRun).toMatchObject({ object: 'error', code: 1010 });
      trpc.socket.send(
        JSON.stringify({
          id: 1,
          method: 'subscription',
          params: { path: 'chat.completions', input: { json: astronBody } },
        }),
      );
      const trpcRefusal = await eventually(() => Promise.resolve(trpcMessages.find((text) => text.includes('"id":1'))));
      expect(JSON.parse(trpcRefusal)).toMatchObject({ id: 1, error: { json: { data: { appCode: 1010 } } } });

      const metrics = await metricsText();
      expect(metrics).toMatch(/astron_chat_overload_refusals_total\{kind="run",transport="openai"\} [1-9]/);
      expect(metrics).toMatch(/astron_chat_overload_refusals_total\{kind="websocket",transport="trpc"\} [1-9]/);
      expect(metrics).toMatch(/astron_chat_overload_refusals_total\{kind="websocket",transport="ws"\} [1-9]/);
      expect(metrics).toMatch(/astron_chat_overload_lag_threshold_seconds 0\.1\n/);
    } finally {
      unblock();
    }

    // The run accepted before the overload streamed through it to its end.
    const last = await eventually(
      () =>
        Promise.resolve(frames.find((frame) => frame.request_id === 'accepted' && frame.choices?.[0]?.finish_reason)),
      20_000,
    );
    expect(last.choices[0].finish_reason).toBe('stop');
    expect(frames.filter((frame) => frame.request_id === 'accepted').every((frame) => frame.code === 0)).toBe(true);

    // Recovered: runs and WebSockets are served again.
    await eventually(() => Promise.resolve(server.app.dependencies.overload.lagMs() <= 100), 10_000);
    const served = await postJson(
      `${server.url}/v1/chat/completions`,
      { model: 'demo-bot', messages: [question] },
      { authorization: 'Bearer sk-demo' },
    );
    expect(served.status).toBe(200);
    const reopened = openSocket(plainWsUrl());
    await reopened.opened;
    reopened.socket.close();
    plain.socket.close();
    trpc.socket.close();
    expect(await metricsText()).toMatch(/astron_chat_event_loop_lag_seconds \d/);
  }, 60_000);
});
