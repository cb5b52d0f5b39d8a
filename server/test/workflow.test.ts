import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createChatClient } from '@astron-chat/client';
import type { BotDefinitionInput, ChatEvent } from '@astron-chat/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createBotRepository } from '../src/store/bot.repository.ts';
import { testBackends } from './support/backends.ts';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { eventually, postJson, readSse } from './support/sse.ts';
import { demoWebSocketUrl, startTestApp, type TestApp } from './support/test-app.ts';

const upstreamModel = { provider: 'upstream' };
const suffix = Math.random().toString(36).slice(2, 8);
const ask = (question: string) => ({ messages: [{ role: 'user' as const, content: question }] });

/** A tiny tool server: JSON, a redirect off the allow-list. */
async function startToolServer() {
  const server = createServer((request, response) => {
    if (request.url?.startsWith('/calc')) return void response.end('{"result":42}');
    if (request.url?.startsWith('/redirect-out')) {
      response.writeHead(302, { location: 'http://127.0.0.2:1/secret' });
      return void response.end();
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function parseFrames(data: string[]): Array<Record<string, any>> {
  return data.filter((line) => line !== '[DONE]').map((line) => JSON.parse(line) as Record<string, any>);
}

describe.each(testBackends())('workflows and agents on $name', (backend) => {
  let server: TestApp;
  let upstream: FakeUpstream;
  let tools: { server: Server; port: number };
  const saveBot = async (name: string, definition: BotDefinitionInput) => {
    const botId = `${name}-${suffix}`;
    await createBotRepository(server.app.database.db).saveBot({ appId: 'demo-app', botId, name, definition });
    return botId;
  };
  const astron = (botId: string, question: string, extra: Record<string, unknown> = {}, signal?: AbortSignal) =>
    postJson(
      `${server.url}/agent/v1/chat/completions`,
      { bot_id: botId, uid: 'u', stream: true, parameters: { ...ask(question), ...extra } },
      { authorization: 'Bearer sk-demo' },
      signal,
    );
  const readRun = async (runId: string) => {
    const response = await fetch(`${server.url}/agent/v1/runs/${runId}`, {
      headers: { authorization: 'Bearer sk-demo' },
    });
    return (await response.json()) as Record<string, any>;
  };

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    tools = await startToolServer();
    server = await startTestApp(backend, {
      env: {
        HTTP_TOOL_ALLOWLIST: `http://127.0.0.1:${tools.port},http://localhost:${tools.port}`,
        INPUT_BLOCKED_TERMS: 'forbidden-word',
        FILE_ALLOWED_TYPES: 'pdf,png',
      },
      overrides: usingUpstream(upstream),
    });
  });
  afterAll(async () => {
    await server.close();
    await upstream.close();
    tools.server.closeAllConnections();
    tools.server.close();
  });

  it('demo-workflow and demo-agent on Astron REST: workflow_step frames and tool_calls with type, reason, response', async () => {
    const workflow = parseFrames((await readSse(await astron('demo-workflow', 'What is 2+3?'))).data);
    const steps = workflow.filter((frame) => frame.workflow_step).map((frame) => frame.workflow_step);
    expect(steps.map((step) => step.node)).toEqual(
      expect.arrayContaining(['start', 'facts', 'stats', 'route', 'answer', 'echo', 'end']),
    );
    expect(steps.at(-1)).toMatchObject({ node: 'end', progress: 1 });
    const content = workflow.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('');
    expect(content).toContain('demo model');
    expect(content).toContain('the condition took "question"');
    expect(workflow.at(-1)).toMatchObject({ code: 0, choices: [{ finish_reason: 'stop' }] });

    const agent = parseFrames((await readSse(await astron('demo-agent', 'What is 12*(3+4)?'))).data);
    const toolCall = agent.find((frame) => frame.choices?.[0]?.delta?.tool_calls)?.choices[0].delta.tool_calls[0];
    expect(toolCall).toMatchObject({
      type: 'tool',
      reason: expect.any(String),
      function: {
        name: 'calculator',
        arguments: '{"expression":"12*(3+4)"}',
        response: '{"expression":"12*(3+4)","result":84}',
      },
    });
    expect(agent.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('')).toContain('"result":84');
    expect(agent.some((frame) => frame.workflow_step?.node === 'agent')).toBe(true);
  });

  it('demo-agent on the OpenAI route: its own tool calls stay on the run, the SDK sees the answer text', async () => {
    const response = await postJson(
      `${server.url}/v1/chat/completions`,
      { model: 'demo-agent', stream: true, messages: [{ role: 'user', content: 'What is 6*7?' }] },
      { authorization: 'Bearer sk-demo' },
    );
    const frames = parseFrames((await readSse(response)).data);
    expect(frames.some((frame) => 'workflow_step' in frame)).toBe(false);
    // A server-run call sent as `tool_calls` would make an SDK's tool loop run it again.
    expect(frames.some((frame) => frame.choices?.[0]?.delta?.tool_calls)).toBe(false);
    expect(frames.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('')).toContain('"result":42');
    expect(frames.find((frame) => frame.choices?.[0]?.finish_reason)?.choices[0].finish_reason).toBe('stop');
    const runId = String(frames[0]?.id).replace(/^chatcmpl-/, '');
    const run = (await (
      await fetch(`${server.url}/agent/v1/runs/${runId}`, { headers: { authorization: 'Bearer sk-demo' } })
    ).json()) as { toolCalls: Array<Record<string, unknown>> };
    expect(run.toolCalls).toEqual([
      expect.objectContaining({
        name: 'calculator',
        arguments: '{"expression":"6*7"}',
        result: '{"expression":"6*7","result":42}',
      }),
    ]);
  });

  for (const transport of ['sse', 'ws'] as const) {
    it(`tRPC ${transport}: typed step events with attempts, tool-call events with results, and chat.runs.get`, async () => {
      const client = createChatClient({ url: server.url, transport, apiKey: 'sk-demo' });
      try {
        const events: ChatEvent[] = [];
        for await (const event of client.streamCompletion({
          bot_id: 'demo-agent',
          uid: 'u',
          parameters: ask('1+1?'),
        })) {
          events.push(event);
        }
        expect(events.find((event) => event.type === 'step-start')).toMatchObject({
          nodeId: 'start',
          attempt: 1,
          status: 'running',
        });
        expect(events.find((event) => event.type === 'tool-call')).toMatchObject({
          kind: 'tool',
          name: 'calculator',
          result: expect.stringContaining('"result":2'),
        });
        expect(events.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
        const runId = events[0]?.type === 'run-start' ? events[0].runId : '';
        const run = await eventually(async () => {
          try {
            return await client.trpc.chat.runs.get.query({ runId });
          } catch {
            return undefined;
          }
        });
        expect(run.nodes.map((node) => [node.nodeId, node.status, node.attempts])).toEqual([
          ['start', 'succeeded', 1],
          ['agent', 'succeeded', 1],
          ['end', 'succeeded', 1],
        ]);
      } finally {
        client.close();
      }
    });
  }

  it('plain WebSocket: demo-workflow frames carry workflow_step and the request_id', async () => {
    const socket = new WebSocket(demoWebSocketUrl(server));
    const frames: Array<Record<string, any>> = [];
    const done = new Promise<void>((resolve) =>
      socket.on('message', (data) => {
        const frame = JSON.parse((data as Buffer).toString()) as Record<string, any>;
        frames.push(frame);
        if (frame.choices?.[0]?.finish_reason) resolve();
      }),
    );
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(
      JSON.stringify({ request_id: 'w1', bot_id: 'demo-workflow', uid: 'u', parameters: ask('no question here') }),
    );
    await done;
    socket.close();
    expect(frames.every((frame) => frame.request_id === 'w1')).toBe(true);
    expect(frames.filter((frame) => frame.workflow_step).map((frame) => frame.workflow_step.node)).toContain('echo');
    expect(frames.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('')).toContain(
      'That was not a question',
    );
  });

  it('runs parallel branches against a slow upstream in the time of the slowest branch, not the sum', async () => {
    const botId = await saveBot('parallel', {
      kind: 'workflow',
      nodes: [
        { id: 'start', type: 'start' },
        { id: 'left', type: 'llm', model: upstreamModel, prompt: 'left {{start.query}}' },
        { id: 'right', type: 'llm', model: upstreamModel, prompt: 'right {{start.query}}' },
        { id: 'end', type: 'end', template: '{{left.text}}|{{right.text}}' },
      ],
      edges: [
        { source: 'start', target: 'left' },
        { source: 'start', target: 'right' },
        { source: 'left', target: 'end' },
        { source: 'right', target: 'end' },
      ],
    });
    upstream.script = { chunks: ['a', 'b', 'c', 'd', 'e'], delayMs: 100 };
    const startedAt = Date.now();
    const frames = parseFrames((await readSse(await astron(botId, 'go'))).data);
    const totalMs = Date.now() - startedAt;
    expect(frames.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('')).toBe('abcde|abcde');
    const run = await eventually(async () => {
      const body = await readRun(frames[0]!.id);
      return body.code === 0 ? body : undefined;
    });
    const branch = (id: string) => run.nodes.find((node: any) => node.nodeId === id);
    const [left, right] = [branch('left'), branch('right')];
    const slowest = Math.max(left.durationMs, right.durationMs);
    const sum = left.durationMs + right.durationMs;
    console.log(
      `[parallel branches on ${backend.name}] left ${left.durationMs} ms, right ${right.durationMs} ms, ` +
        `sum ${sum} ms, whole run ${totalMs} ms (run record ${run.durationMs} ms)`,
    );
    expect(left.startedAt).toBeLessThan(right.finishedAt);
    expect(right.startedAt).toBeLessThan(left.finishedAt);
    expect(totalMs).toBeLessThan(sum);
    expect(run.durationMs).toBeLessThan(slowest + 300);
    upstream.script = {};
  });

  it('cancelling mid-node closes the upstream request and records the node as cancelled', async () => {
    const botId = await saveBot('cancel', {
      kind: 'workflow',
      nodes: [
        { id: 'start', type: 'start' },
        { id: 'slow', type: 'llm', model: upstreamModel, prompt: '{{start.query}}' },
        { id: 'end', type: 'end', template: '{{slow.text}}' },
      ],
      edges: [
        { source: 'start', target: 'slow' },
        { source: 'slow', target: 'end' },
      ],
    });
    upstream.script = { chunks: Array.from({ length: 50 }, (_, index) => `w${index} `), delayMs: 50 };
    const ended = upstream.nextEnd();
    const controller = new AbortController();
    const response = await astron(botId, 'go', {}, controller.signal);
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('"node":"slow"')) text += new TextDecoder().decode((await reader.read()).value);
    const runId = /"id":"(run_[^"]+)"/.exec(text)![1]!;
    await new Promise((resolve) => setTimeout(resolve, 150));
    const leftAt = Date.now();
    controller.abort();
    expect(await ended).toBe('closed-by-client');
    expect(Date.now() - leftAt).toBeLessThan(1_000);
    // The run row is written just before its node runs: wait for both.
    const run = await eventually(async () => {
      const body = await readRun(runId);
      return body.code === 0 && body.nodes.some((node: any) => node.nodeId === 'slow') ? body : undefined;
    });
    expect(run.status).toBe('cancelled');
    expect(run.nodes.find((node: any) => node.nodeId === 'slow').status).toBe('cancelled');
    upstream.script = {};
  });

  it("retries an llm node's model call by the upstream error class, with the node's own retry settings", async () => {
    const botId = await saveBot('retry', {
      kind: 'workflow',
      nodes: [
        { id: 'start', type: 'start' },
        { id: 'ask', type: 'llm', model: upstreamModel, prompt: '{{start.query}}', retry: { delayMs: 20 } },
        { id: 'end', type: 'end', template: '{{ask.text}}' },
      ],
      edges: [
        { source: 'start', target: 'ask' },
        { source: 'ask', target: 'end' },
      ],
    });
    upstream.queue = [{ status: 500 }, { status: 429 }, { chunks: ['fine'] }];
    const requestsAtStart = upstream.requests.length;
    const frames = parseFrames((await readSse(await astron(botId, 'go'))).data);
    expect(frames.at(-1)).toMatchObject({ code: 0 });
    expect(frames.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('')).toBe('fine');
    const run = await eventually(async () => {
      const body = await readRun(frames[0]!.id);
      return body.code === 0 ? body : undefined;
    });
    // The model call retried inside the node's one attempt (providers/resilient-model.ts), not the node.
    expect(upstream.requests.length - requestsAtStart).toBe(3);
    expect(run.nodes.find((node: any) => node.nodeId === 'ask')).toMatchObject({ attempts: 1, status: 'succeeded' });
    expect(run.provider).toBe('upstream');

    // Garbage is a business error: no retry, the caller gets 1009 in the final frame.
    upstream.queue = [{ chunks: ['x'], garbage: '{not json' }];
    const requestsBefore = upstream.requests.length;
    const failed = parseFrames((await readSse(await astron(botId, 'go'))).data);
    expect(failed.at(-1)).toMatchObject({ code: 1009, message: expect.stringContaining('Node "ask" (llm)') });
    expect(upstream.requests.length - requestsBefore).toBe(1);
  });

  it('follows a fail branch, and a node timeout ends the run with 1005 keeping the partial answer', async () => {
    const branchBot = await saveBot('failbranch', {
      kind: 'workflow',
      nodes: [
        { id: 'start', type: 'start' },
        {
          id: 'ask',
          type: 'llm',
          model: upstreamModel,
          prompt: '{{start.query}}',
          onError: { strategy: 'fail-branch' },
        },
        { id: 'ok', type: 'end', template: '{{ask.text}}' },
        { id: 'sorry', type: 'end', template: 'Sorry: {{ask.error}}' },
      ],
      edges: [
        { source: 'start', target: 'ask' },
        { source: 'ask', target: 'ok' },
        { source: 'ask', target: 'sorry', sourceHandle: 'fail' },
      ],
    });
    upstream.queue = [{ status: 400 }];
    const branch = parseFrames((await readSse(await astron(branchBot, 'go'))).data);
    expect(branch.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('')).toMatch(
      /^Sorry: Model provider answered HTTP 400/,
    );
    expect(branch.at(-1)).toMatchObject({ code: 0 });

    const timeoutBot = await saveBot('timeout', {
      kind: 'workflow',
      nodes: [
        { id: 'start', type: 'start' },
        { id: 'first', type: 'template', template: 'partial answer. ' },
        { id: 'say', type: 'end', template: '{{first.output}}' },
        {
          id: 'slow',
          type: 'llm',
          model: upstreamModel,
          prompt: '{{start.query}}',
          timeoutMs: 150,
          retry: { maxRetries: 0 },
        },
        { id: 'end', type: 'end', template: '{{slow.text}}' },
      ],
      edges: [
        { source: 'start', target: 'first' },
        { source: 'first', target: 'say' },
        { source: 'start', target: 'slow' },
        { source: 'slow', target: 'end' },
      ],
    });
    upstream.queue = [{ chunks: ['late'], headerDelayMs: 2_000 }];
    const timedOut = parseFrames((await readSse(await astron(timeoutBot, 'go'))).data);
    expect(timedOut.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('')).toBe('partial answer. ');
    expect(timedOut.at(-1)).toMatchObject({ code: 1005, message: 'Node "slow" timed out after 150 ms.' });
  });

  it('an agent that keeps calling tools stops at max_loop_count with finish reason length', async () => {
    const botId = await saveBot('looper', {
      kind: 'agent',
      model: upstreamModel,
      tools: [{ type: 'http', name: 'calc', url: `http://127.0.0.1:${tools.port}/calc`, method: 'GET' }],
      max_loop_count: 3,
    });
    upstream.script = { chunks: [], toolCalls: [{ id: 'call_1', name: 'calc', arguments: '{"x":"1"}' }] };
    const frames = parseFrames((await readSse(await astron(botId, 'loop'))).data);
    const calls = frames.filter((frame) => frame.choices?.[0]?.delta?.tool_calls);
    expect(calls).toHaveLength(3);
    expect(calls[0]!.choices[0].delta.tool_calls[0].function.response).toBe('{"result":42}');
    expect(frames.at(-1)).toMatchObject({ code: 0, choices: [{ finish_reason: 'length' }] });
    expect(frames.map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('')).toContain(
      'stopped after 3 model calls (max_loop_count)',
    );
    // The tool results went back to the model.
    expect(JSON.stringify(upstream.requests.at(-1)?.messages)).toContain('"tool_call_id":"call_1"');
    upstream.script = {};
  });

  it('http tools never reach past the allow-list: redirects out and names resolving to loopback are refused', async () => {
    for (const [url, refusal] of [
      [
        `http://127.0.0.1:${tools.port}/redirect-out`,
        'redirected to http://127.0.0.2:1, which is not on the allow-list',
      ],
      [`http://localhost:${tools.port}/calc`, 'a private or loopback address'],
      ['http://169.254.169.254/latest/meta-data', 'is not on the HTTP tool allow-list'],
    ] as const) {
      const botId = await saveBot(`guard${url.length}`, {
        kind: 'agent',
        model: { provider: 'demo' },
        tools: [
          {
            type: 'http',
            name: 'probe',
            url,
            method: 'GET',
            parameters: { type: 'object', properties: { q: { type: 'string' } } },
          },
        ],
        max_loop_count: 2,
      });
      const frames = parseFrames((await readSse(await astron(botId, 'go'))).data);
      const call = frames.find((frame) => frame.choices?.[0]?.delta?.tool_calls)?.choices[0].delta.tool_calls[0];
      expect(call.function.response).toContain(refusal);
      expect(call.reason).toContain('The tool failed');
      expect(frames.at(-1)).toMatchObject({ code: 0 });
    }
  });

  it('refuses invalid definitions on save with the exact path', async () => {
    await expect(
      saveBot('broken', {
        kind: 'workflow',
        nodes: [
          { id: 'start', type: 'start' },
          { id: 'end', type: 'end', template: '{{ghost.text}}' },
        ],
        edges: [{ source: 'start', target: 'end' }],
      }),
    ).rejects.toMatchObject({ errorName: 'VALIDATION_ERROR', param: 'definition.nodes.1.template' });
  });

  it('checks input before running: blocked terms (1007) and file URLs in parameters (1001)', async () => {
    const blocked = await astron('demo-workflow', 'tell me the forbidden-word');
    expect(blocked.status).toBe(403);
    expect(await blocked.json()).toMatchObject({ code: 1007, param: 'messages' });
    const badFile = await astron('demo-bot', 'read this', { files: ['http://example.com/a.pdf'] });
    expect(badFile.status).toBe(400);
    expect(await badFile.json()).toMatchObject({ code: 1001, param: 'parameters.files.0' });
    const badType = await astron('demo-bot', 'read this', { files: ['https://example.com/a.exe'] });
    expect(await badType.json()).toMatchObject({
      code: 1001,
      message: expect.stringContaining('".exe" is not allowed'),
    });
  });
});
