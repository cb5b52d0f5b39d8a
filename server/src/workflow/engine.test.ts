import { checkBotDefinition, type BotDefinitionInput } from '@astron-chat/shared';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors/app-error.ts';
import { ProviderError } from '../providers/provider-error.ts';
import { createScriptedModel, type ScriptedCall } from '../../test/support/scripted-model.ts';
import { createBotExecution } from './execute-bot.ts';
import type { BotInput, ExecutionPart, NodeRunReport } from './execution.ts';

const model = { provider: 'scripted' };

function definitionOf(input: BotDefinitionInput) {
  const checked = checkBotDefinition(input);
  if (!checked.success) throw new Error(`${checked.path}: ${checked.message}`);
  return checked.data;
}

async function run(
  definition: BotDefinitionInput,
  script: (request: Parameters<Parameters<typeof createScriptedModel>[0]>[0], call: number) => ScriptedCall,
  options: { signal?: AbortSignal; question?: string } = {},
) {
  const scripted = createScriptedModel(script);
  const execution = createBotExecution(definitionOf(definition), { models: scripted.registry, retryDelayScale: 0.01 });
  const nodeRuns: NodeRunReport[] = [];
  const input: BotInput = {
    messages: [{ role: 'user', content: options.question ?? 'hello?' }],
    parameters: {},
    inputs: {},
    user: 'u',
    onNodeRun: (nodeRun) => nodeRuns.push(nodeRun),
  };
  const parts: ExecutionPart[] = [];
  let error: unknown;
  const startedAt = Date.now();
  try {
    for await (const part of execution.run(input, options.signal ?? new AbortController().signal)) parts.push(part);
  } catch (caught) {
    error = caught;
  }
  const durationMs = Date.now() - startedAt;
  // Aborted model calls unwind a tick after the run has ended.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const text = parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : [])).join('');
  return { parts, nodeRuns, error, text, calls: scripted.calls, durationMs };
}

const parallel: BotDefinitionInput = {
  kind: 'workflow',
  nodes: [
    { id: 'start', type: 'start' },
    { id: 'a', type: 'llm', model, prompt: 'A {{start.query}}' },
    { id: 'b', type: 'llm', model, prompt: 'B {{start.query}}' },
    { id: 'join', type: 'template', template: '{{a.text}}+{{b.text}}' },
    { id: 'end', type: 'end', template: '{{join.output}}' },
  ],
  edges: [
    { source: 'start', target: 'a' },
    { source: 'start', target: 'b' },
    { source: 'a', target: 'join' },
    { source: 'b', target: 'join' },
    { source: 'join', target: 'end' },
  ],
};

function single(
  node: Record<string, unknown>,
  extra: Partial<{ edges: unknown[]; nodes: unknown[] }> = {},
): BotDefinitionInput {
  return {
    kind: 'workflow',
    nodes: [
      { id: 'start', type: 'start' },
      { id: 'x', type: 'llm', model, prompt: '{{start.query}}', ...node },
      { id: 'end', type: 'end', template: '[{{x.text}}|{{x.error}}]' },
      ...((extra.nodes ?? []) as []),
    ],
    edges: [{ source: 'start', target: 'x' }, { source: 'x', target: 'end' }, ...((extra.edges ?? []) as [])],
  };
}

describe('workflow engine', () => {
  it('runs independent branches at the same time and joins them', async () => {
    const result = await run(parallel, (request) => ({
      text: [String(request.messages.at(-1)?.content.slice(0, 1))],
      delayMs: 150,
    }));
    expect(result.error).toBeUndefined();
    expect(result.text).toBe('A+B');
    const [a, b] = result.calls;
    // Both calls started before either ended.
    expect(Math.max(a!.startedAt, b!.startedAt)).toBeLessThan(Math.min(a!.endedAt!, b!.endedAt!));
    expect(result.durationMs).toBeLessThan(290);
    expect(result.parts.at(-1)).toEqual({ type: 'finish', finishReason: 'stop' });
    const steps = result.parts.filter((part) => part.type === 'step-end');
    expect(steps.map((step) => step.type === 'step-end' && step.nodeId).sort()).toEqual([
      'a',
      'b',
      'end',
      'join',
      'start',
    ]);
    expect(steps.at(-1)).toMatchObject({ progress: 1, status: 'succeeded', attempt: 1 });
    expect(result.parts.filter((part) => part.type === 'usage')).toHaveLength(2);
  });

  it('takes one branch of a condition and skips the rest', async () => {
    const definition: BotDefinitionInput = {
      kind: 'workflow',
      nodes: [
        { id: 'start', type: 'start' },
        {
          id: 'route',
          type: 'condition',
          branches: [{ id: 'long', conditions: [{ left: '{{start.query}}', operator: 'contains', right: 'long' }] }],
        },
        { id: 'yes', type: 'template', template: 'long!' },
        { id: 'no', type: 'template', template: 'short!' },
        { id: 'end', type: 'end', template: '{{yes.output}}{{no.output}} via {{route.branch}}' },
      ],
      edges: [
        { source: 'start', target: 'route' },
        { source: 'route', target: 'yes', sourceHandle: 'long' },
        { source: 'route', target: 'no', sourceHandle: 'else' },
        { source: 'yes', target: 'end' },
        { source: 'no', target: 'end' },
      ],
    };
    const short = await run(definition, () => ({}), { question: 'hi' });
    expect(short.text).toBe('short! via else');
    expect(short.nodeRuns.find((nodeRun) => nodeRun.nodeId === 'yes')?.status).toBe('skipped');
    // A skipped node still opens and closes its step (status skipped), and every step-end has its step-start.
    const steps = short.parts.flatMap((part) => (part.type === 'step-start' || part.type === 'step-end' ? [part] : []));
    expect(steps.filter((part) => part.nodeId === 'yes').map((part) => [part.type, part.status])).toEqual([
      ['step-start', 'skipped'],
      ['step-end', 'skipped'],
    ]);
    const open = new Set<string>();
    for (const part of steps) {
      if (part.type === 'step-start') open.add(part.nodeId);
      else expect(open.has(part.nodeId)).toBe(true);
    }
    const long = await run(definition, () => ({}), { question: 'a long one' });
    expect(long.text).toBe('long! via long');
  });

  it('retries by error class: resource exhaustion twice, auth once, business never', async () => {
    const busy = await run(single({ retry: { delayMs: 10 } }), (_request, call) =>
      call < 2 ? { error: ProviderError.fromStatus(429, 'slow down') } : { text: ['fine'] },
    );
    expect(busy.text).toBe('[fine|]');
    expect(busy.nodeRuns.find((nodeRun) => nodeRun.nodeId === 'x')).toMatchObject({ attempts: 3, status: 'succeeded' });
    expect(busy.parts.filter((part) => part.type === 'step-end' && part.status === 'failed')).toHaveLength(2);

    const exhausted = await run(single({ retry: { delayMs: 10 } }), () => ({
      error: ProviderError.fromStatus(503, ''),
    }));
    expect(exhausted.calls).toHaveLength(3);
    expect(exhausted.error).toBeInstanceOf(AppError);
    expect((exhausted.error as AppError).code).toBe(1009);

    const auth = await run(single({}), () => ({ error: ProviderError.fromStatus(401, 'bad key') }));
    expect(auth.calls).toHaveLength(2);

    const business = await run(single({}), () => ({ error: ProviderError.fromStatus(400, 'bad request') }));
    expect(business.calls).toHaveLength(1);

    const network = await run(single({ retry: { delayMs: 5 } }), () => ({ error: ProviderError.fromStatus(500, '') }));
    expect(network.calls).toHaveLength(4);
  });

  it("waits a 429's Retry-After before retrying, and does not retry one past the 30 s it would wait for", async () => {
    const startedAt = Date.now();
    const waited = await run(single({ retry: { delayMs: 1 } }), (_request, call) =>
      call < 1 ? { error: ProviderError.fromStatus(429, 'slow down', '0.3') } : { text: ['fine'] },
    );
    expect(waited.text).toBe('[fine|]');
    expect(waited.calls).toHaveLength(2);
    // Its own backoff is 1 ms: the wait is the server's.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);

    const tooLong = await run(single({ retry: { delayMs: 1 } }), () => ({
      error: ProviderError.fromStatus(429, 'come back in an hour', '3600'),
    }));
    expect(tooLong.calls).toHaveLength(1);
    expect((tooLong.error as AppError).code).toBe(1003);
  });

  it('never retries a node that already streamed output', async () => {
    const result = await run(single({ stream: true }), () => ({
      text: ['partial ', 'more'],
      error: ProviderError.fromStatus(500, 'boom'),
      failAfter: 1,
    }));
    expect(result.calls).toHaveLength(1);
    expect(result.text).toBe('partial ');
    expect((result.error as AppError).code).toBe(1009);
    const failed = result.parts.find((part) => part.type === 'step-end' && part.status === 'failed');
    expect(failed).toMatchObject({ error: expect.stringContaining('not retried: output already streamed') });
  });

  it('times a node out (code 1005) and retries it as a network timeout', async () => {
    const result = await run(single({ timeoutMs: 50, retry: { maxRetries: 1, delayMs: 1 } }), () => ({
      text: ['late'],
      delayMs: 500,
    }));
    expect(result.calls).toHaveLength(2);
    expect(result.calls.every((call) => call.aborted)).toBe(true);
    expect((result.error as AppError).code).toBe(1005);
    expect(result.nodeRuns.find((nodeRun) => nodeRun.nodeId === 'x')).toMatchObject({ status: 'timeout', attempts: 2 });
  });

  it('follows the error strategies: default output and fail branch', async () => {
    const failing = () => ({ error: ProviderError.fromStatus(400, 'nope') });
    const withDefault = await run(single({ onError: { strategy: 'default', output: { text: 'fallback' } } }), failing);
    expect(withDefault.error).toBeUndefined();
    expect(withDefault.text).toContain('[fallback|Model provider answered HTTP 400: nope]');

    const withBranch = await run(
      single(
        { onError: { strategy: 'fail-branch' } },
        {
          nodes: [{ id: 'sorry', type: 'end', template: 'sorry: {{x.error}}' }],
          edges: [{ source: 'x', target: 'sorry', sourceHandle: 'fail' }],
        },
      ),
      failing,
    );
    expect(withBranch.error).toBeUndefined();
    expect(withBranch.text).toBe('sorry: Model provider answered HTTP 400: nope');
    expect(withBranch.nodeRuns.find((nodeRun) => nodeRun.nodeId === 'end')?.status).toBe('skipped');
    expect(withBranch.nodeRuns.find((nodeRun) => nodeRun.nodeId === 'x')).toMatchObject({
      status: 'failed',
      strategy: 'fail-branch',
    });

    const aborting = await run(parallel, (request) =>
      request.messages.at(-1)?.content.startsWith('A') ? failing() : { text: ['b'], delayMs: 2000 },
    );
    expect((aborting.error as AppError).message).toMatch(/Node "a" \(llm\)/);
    // The other branch was stopped at once, not left running.
    expect(aborting.durationMs).toBeLessThan(1000);
    expect(aborting.calls.find((call) => call.request.messages.at(-1)?.content.startsWith('B'))?.aborted).toBe(true);
    expect(aborting.nodeRuns.find((nodeRun) => nodeRun.nodeId === 'b')?.status).toBe('cancelled');
  });

  it('stops every running node when the run is cancelled', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const result = await run(parallel, () => ({ text: ['slow'], delayMs: 5_000 }), { signal: controller.signal });
    expect(result.durationMs).toBeLessThan(1000);
    expect(result.calls).toHaveLength(2);
    expect(result.calls.every((call) => call.aborted)).toBe(true);
    expect(
      result.nodeRuns
        .filter((nodeRun) => nodeRun.status === 'cancelled')
        .map((nodeRun) => nodeRun.nodeId)
        .sort(),
    ).toEqual(['a', 'b']);
  });
});

describe('agents', () => {
  const agent = (maxLoopCount: number): BotDefinitionInput => ({
    kind: 'agent',
    model,
    tools: [{ type: 'bot', name: 'helper', botId: 'other' }],
    max_loop_count: maxLoopCount,
  });

  it('ends cleanly with finish reason length and says why after max_loop_count', async () => {
    const result = await run(agent(2), () => ({
      text: [],
      toolCalls: [{ name: 'helper', arguments: '{"query":"x"}' }],
    }));
    expect(result.error).toBeUndefined();
    expect(result.calls).toHaveLength(2);
    expect(result.parts.at(-1)).toEqual({ type: 'finish', finishReason: 'length' });
    expect(result.text).toContain('stopped after 2 model calls (max_loop_count)');
    const toolCalls = result.parts.filter((part) => part.type === 'tool-call');
    expect(toolCalls).toHaveLength(2);
    // No runBot in this test: the tool fails, the model is told, the loop goes on.
    expect(toolCalls[0]).toMatchObject({
      kind: 'workflow',
      name: 'helper',
      index: 0,
      result: expect.stringContaining('error'),
    });
  });

  it('feeds tool results back and finishes with the answer', async () => {
    const result = await run(agent(5), (request) =>
      request.messages.some((message) => message.role === 'tool')
        ? { text: ['done'] }
        : { text: ['let me ask. '], toolCalls: [{ name: 'nothing', arguments: '{}' }] },
    );
    expect(result.parts.at(-1)).toEqual({ type: 'finish', finishReason: 'stop' });
    expect(result.text).toBe('let me ask. done');
    const call = result.parts.find((part) => part.type === 'tool-call');
    expect(call).toMatchObject({ name: 'nothing', reason: expect.stringContaining('let me ask.') });
  });
});
