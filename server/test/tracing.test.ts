import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import superjson from 'superjson';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signWebSocketRequest } from '../src/auth/authenticator.ts';
import { createBotRepository } from '../src/store/bot.repository.ts';
import type { AppRouter } from '../src/transport/trpc/trpc.router.ts';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { eventually, postJson, readSse } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

type OtlpValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  arrayValue?: { values: OtlpValue[] };
};
type OtlpSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: OtlpValue }>;
  status?: { code?: number };
};
type Span = Omit<OtlpSpan, 'attributes'> & { attributes: Record<string, unknown> };

const plain = (value: OtlpValue): unknown =>
  value.arrayValue
    ? value.arrayValue.values.map(plain)
    : (value.stringValue ?? (value.intValue === undefined ? value.boolValue : Number(value.intValue)));

/** A local OTLP/HTTP endpoint: decodes what the real exporter posts to /v1/traces (OTLP JSON). */
async function startCollector() {
  const spans: Span[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces') {
        const payload = JSON.parse(body) as {
          resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
        };
        for (const resource of payload.resourceSpans)
          for (const scope of resource.scopeSpans)
            for (const span of scope.spans)
              spans.push({
                ...span,
                attributes: Object.fromEntries(span.attributes.map((a) => [a.key, plain(a.value)])),
              });
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, spans, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('OpenTelemetry traces', () => {
  let server: TestApp | undefined;
  let upstream: FakeUpstream;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let tool: Server;
  const toolHeaders: IncomingHttpHeaders[] = [];
  afterAll(async () => {
    await server?.close();
    await upstream.close();
    collector.server.close();
    tool.close();
  });

  it('a workflow run with a tool call is one trace: request, run, node attempt, model calls, tool call', async () => {
    collector = await startCollector();
    upstream = await startFakeUpstream({ chunks: ['The answer', ' is 5.'] });
    upstream.queue.push({
      chunks: [],
      toolCalls: [{ id: 'call_1', name: 'calculator', arguments: '{"expression":"2+3"}' }],
    });
    tool = createServer((request, response) => {
      toolHeaders.push(request.headers);
      request.resume();
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"result":5}');
    });
    await new Promise<void>((resolve) => tool.listen(0, '127.0.0.1', resolve));
    const toolOrigin = `http://127.0.0.1:${(tool.address() as AddressInfo).port}`;
    server = await startTestApp(
      { name: 'sqlite', databaseUrl: undefined, redisUrl: undefined },
      {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, HTTP_TOOL_ALLOWLIST: toolOrigin },
        overrides: usingUpstream(upstream),
      },
    );
    await createBotRepository(server.app.database.db).saveBot({
      appId: 'demo-app',
      botId: 'traced-agent',
      name: 'traced agent',
      definition: {
        kind: 'agent',
        model: { provider: 'upstream' },
        tools: [
          {
            type: 'http',
            name: 'calculator',
            description: 'Adds numbers.',
            parameters: { type: 'object', properties: { expression: { type: 'string' } }, required: ['expression'] },
            method: 'POST',
            url: `${toolOrigin}/calc`,
          },
        ],
        max_loop_count: 3,
      },
    });

    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpanId = '00f067aa0ba902b7';
    const { data } = await readSse(
      await postJson(
        `${server.url}/agent/v1/chat/completions`,
        {
          bot_id: 'traced-agent',
          uid: 'u',
          stream: true,
          parameters: { messages: [{ role: 'user', content: 'What is 2+3?' }] },
        },
        { authorization: 'Bearer sk-demo', traceparent: `00-${traceId}-${callerSpanId}-01` },
      ),
    );
    const runId = (JSON.parse(data[0] as string) as { id: string }).id;
    expect(data.join('')).toContain('is 5.');

    const spans = await eventually(() => {
      const ofTrace = collector.spans.filter((span) => span.traceId === traceId);
      return Promise.resolve(
        ofTrace.length >= 6 && ofTrace.some((s) => s.name.startsWith('POST')) ? ofTrace : undefined,
      );
    }, 15_000);
    const named = (prefix: string) => spans.filter((span) => span.name.startsWith(prefix));
    const [request] = named('POST /agent/v1/chat/completions');
    const [run] = named('invoke_agent traced-agent');
    const [node] = named('node agent');
    const models = named('chat fake-model');
    const [toolCall] = named('execute_tool');
    expect(request).toBeDefined();
    expect(request?.parentSpanId).toBe(callerSpanId);
    expect(request?.attributes).toMatchObject({
      'http.route': '/agent/v1/chat/completions',
      'http.response.status_code': 200,
    });
    expect(run?.parentSpanId).toBe(request?.spanId);
    expect(run?.attributes).toMatchObject({
      'astron.app_id': 'demo-app',
      'astron.bot_id': 'traced-agent',
      'astron.bot_version': 1,
      'astron.run_id': runId,
      'astron.transport': 'astron',
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.provider.name': 'upstream',
      'gen_ai.response.finish_reasons': ['stop'],
    });
    expect(node?.parentSpanId).toBe(run?.spanId);
    expect(node?.attributes).toMatchObject({ 'astron.node.type': 'agent', 'astron.node.attempt': 1 });
    expect(models).toHaveLength(2);
    for (const model of models) {
      expect(model.parentSpanId).toBe(node?.spanId);
      expect(model.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'upstream',
        'gen_ai.request.model': 'fake-model',
        'gen_ai.response.model': 'fake-model',
        'gen_ai.usage.input_tokens': 5,
      });
      // Contents only with OTEL_GENAI_CAPTURE_CONTENT=true.
      expect(model.attributes['gen_ai.input.messages']).toBeUndefined();
    }
    expect(models.map((model) => model.attributes['gen_ai.response.finish_reasons'])).toEqual([
      ['tool_calls'],
      ['stop'],
    ]);
    expect(toolCall?.parentSpanId).toBe(node?.spanId);
    expect(toolCall?.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'http.response.status_code': 200,
    });

    // The trace context went on to the upstream model and to the tool, from their own spans.
    const sent = upstream.requestHeaders
      .filter((headers) => headers.traceparent !== undefined)
      .map((h) => h.traceparent);
    expect(sent).toEqual(models.map((model) => `00-${traceId}-${model.spanId}-01`));
    expect(toolHeaders[0]?.traceparent).toBe(`00-${traceId}-${toolCall?.spanId}-01`);

    // A chat bot (no workflow nodes): its model call is a child of its run span.
    const chatTrace = 'aaaabbbbccccdddd0000111122223333';
    await readSse(
      await postJson(
        `${server.url}/v1/chat/completions`,
        { model: 'upstream-bot', stream: true, messages: [{ role: 'user', content: 'Hi' }] },
        { authorization: 'Bearer sk-demo', traceparent: `00-${chatTrace}-${callerSpanId}-01` },
      ),
    );
    const chatSpans = await eventually(() => {
      const ofTrace = collector.spans.filter((span) => span.traceId === chatTrace);
      return Promise.resolve(ofTrace.length >= 3 ? ofTrace : undefined);
    }, 15_000);
    const chatRun = chatSpans.find((span) => span.name === 'invoke_agent upstream-bot');
    const chatModel = chatSpans.find((span) => span.name === 'chat fake-model');
    expect(chatRun?.attributes).toMatchObject({ 'astron.transport': 'openai', 'astron.bot_kind': 'chat' });
    expect(chatModel?.parentSpanId).toBe(chatRun?.spanId);

    // A WebSocket run message is a server span continuing the upgrade's traceparent; the run is its child.
    const wsTrace = 'eeeeffff000011112222333344445555';
    const ts = Math.floor(Date.now() / 1000);
    const signa = encodeURIComponent(signWebSocketRequest({ appid: 'demo-app', ts, secret: 'demo-secret' }));
    const socket = new WebSocket(`${server.wsUrl}/agent/v1/ws?appid=demo-app&ts=${ts}&signa=${signa}`, {
      headers: { traceparent: `00-${wsTrace}-${callerSpanId}-01` },
    });
    const finished = new Promise<void>((resolve) =>
      socket.on('message', (raw) => {
        const frame = JSON.parse((raw as Buffer).toString()) as { choices?: Array<{ finish_reason?: string | null }> };
        if (frame.choices?.[0]?.finish_reason) resolve();
      }),
    );
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(
      JSON.stringify({
        request_id: 'w1',
        bot_id: 'demo-bot',
        uid: 'u',
        parameters: { messages: [{ role: 'user', content: 'Hi' }] },
      }),
    );
    await finished;
    socket.close();
    const wsSpans = await eventually(() => {
      const ofTrace = collector.spans.filter((span) => span.traceId === wsTrace);
      return Promise.resolve(
        ofTrace.some((span) => span.name.startsWith('ws.message')) && ofTrace.length >= 3 ? ofTrace : undefined,
      );
    }, 15_000);
    const message = wsSpans.find((span) => span.name === 'ws.message /agent/v1/ws');
    expect(message?.parentSpanId).toBe(callerSpanId);
    expect(wsSpans.find((span) => span.name === 'invoke_agent demo-bot')?.parentSpanId).toBe(message?.spanId);

    // A tRPC WebSocket request message is a server span too, continuing the upgrade's traceparent.
    const trpcTrace = 'aaaabbbbccccddddeeeeffff00001111';
    class TracedWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: { traceparent: `00-${trpcTrace}-${callerSpanId}-01` } });
      }
    }
    const wsClient = createWSClient({
      url: `${server.wsUrl}/trpc`,
      connectionParams: { apiKey: 'sk-demo' },
      WebSocket: TracedWebSocket as unknown as typeof globalThis.WebSocket,
    });
    const trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient, transformer: superjson })] });
    await new Promise<void>((resolve, reject) => {
      const subscription = trpc.chat.completions.subscribe(
        { bot_id: 'demo-bot', uid: 'u', parameters: { messages: [{ role: 'user', content: 'Hi' }] } },
        {
          onData: ({ data }) => {
            if (data.type === 'finish') {
              subscription.unsubscribe();
              resolve();
            }
          },
          onError: reject,
        },
      );
    });
    void wsClient.close();
    const trpcSpans = await eventually(() => {
      const ofTrace = collector.spans.filter((span) => span.traceId === trpcTrace);
      return Promise.resolve(
        ofTrace.some((span) => span.name === 'ws.message /trpc') && ofTrace.length >= 3 ? ofTrace : undefined,
      );
    }, 15_000);
    const trpcMessage = trpcSpans.find((span) => span.name === 'ws.message /trpc');
    expect(trpcMessage?.parentSpanId).toBe(callerSpanId);
    expect(trpcMessage?.attributes).toMatchObject({ 'rpc.system': 'trpc', 'rpc.method': 'chat.completions' });
    expect(trpcSpans.find((span) => span.name === 'invoke_agent demo-bot')?.parentSpanId).toBe(trpcMessage?.spanId);
  });
});
