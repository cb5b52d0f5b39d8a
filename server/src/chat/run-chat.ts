import type { ChatEvent, ChatEventBody, FinishReason, OpenAITool, OpenAIToolChoice, Usage } from '@astron-chat/shared';
import type { Logger } from 'pino';
import { AppError, isAbortError, toAppError } from '../errors/app-error.ts';
import { cacheKeys, type Cache } from '../cache/cache.ts';
import type { Admission } from './admission.ts';
import { applyHistoryBudget, STORED_HISTORY_LIMIT } from './history-budget.ts';
import { childSignal } from '../lib/abort.ts';
import { createId } from '../lib/ids.ts';
import { withoutUndefined } from '../lib/objects.ts';
import type { ModelMessage, ModelParameters } from '../providers/chat-model.ts';
import { createExecutionCache, type BotInput, type ExecutionPart } from '../workflow/execute-bot.ts';
import type { HttpCaller } from '../workflow/http-call.ts';
import type { NodeRunRecord, NodeRunRepository } from '../store/node-run.repository.ts';
import type { InputAudit } from './input-audit.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { ModelRegistry } from '../providers/model-registry.ts';
import type { BotRecord, BotRepository } from '../store/bot.repository.ts';
import { ChatOwnerError, type RunRecord, type RunRepository, type StoredToolCall } from '../store/run.repository.ts';
import { collectAnswer } from './collect-answer.ts';

/** A chat request after a transport has parsed it; the same for every transport. */
export type ChatRequest = {
  botId: string;
  uid: string;
  chatId?: string | undefined;
  /** Earlier turns and the question (last). */
  messages: ModelMessage[];
  parameters: ModelParameters;
  tools?: OpenAITool[] | undefined;
  toolChoice?: OpenAIToolChoice | undefined;
  caller?: string | undefined;
  callerSid?: string | undefined;
  /** Set by the run manager when the id must be known before the run starts (idempotency). */
  runId?: string | undefined;
  /** Workflow inputs (the Astron body's extra `parameters` fields). */
  inputs?: Record<string, unknown> | undefined;
  /** Set by the run manager: called with the run's header just before `run-start`, to keep it in the run log. */
  onStart?: ((run: RunHeader) => void) | undefined;
};

export type RunStart = Extract<ChatEvent, { type: 'run-start' }>;

/**
 * What a run's record holds from its start on. The run log keeps it with the run: subscribers frame
 * with it, and the follower that ends a run lost with its instance records the run from it.
 */
export type RunHeader = Omit<
  RunRecord,
  'status' | 'finishReason' | 'error' | 'usage' | 'timeToFirstTokenMs' | 'durationMs' | 'answer'
>;

export function toRunStart(run: RunHeader): RunStart {
  return {
    type: 'run-start',
    seq: 0,
    runId: run.runId,
    chatId: run.chatId ?? null,
    botId: run.botId,
    model: run.model,
    created: Math.floor(run.createdAt / 1000),
  };
}

/** Who asks and through what; set by the transport after authentication. */
export type ChatContext = {
  appId: string;
  apiKeyId?: string | undefined;
  requestId: string;
  transport: 'astron' | 'openai' | 'trpc' | 'ws';
};

export type ChatServiceOptions = {
  bots: BotRepository;
  runs: RunRepository;
  models: ModelRegistry;
  logger: Logger;
  metrics: Metrics;
  cache: Cache;
  /** Rate limits and concurrency caps, checked before a run starts. */
  admission: Admission;
  /** RUN_TIMEOUT_SECONDS, in ms. */
  runTimeoutMs: number;
  /** Workflow node runs are stored here when given. */
  nodeRuns?: NodeRunRepository | undefined;
  /** Outbound HTTP for workflow `http` nodes and agent tools. */
  http?: HttpCaller | undefined;
  /** Checks every request before it runs. */
  inputAudit?: InputAudit | undefined;
  /** Test seam: scales workflow retry delays. */
  retryDelayScale?: number | undefined;
};

const EMPTY_USAGE: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };

/** The one core: every transport iterates `runChat` and frames its events. */
export function createChatService(options: ChatServiceOptions) {
  const { cache } = options;
  const executions = createExecutionCache({
    models: options.models,
    http: options.http,
    retryDelayScale: options.retryDelayScale,
  });

  /** Another bot of the app, run as an agent's tool (not recorded as a run of its own). */
  function botRunner(appId: string, user: string, depth: number) {
    return async function* runBot(botId: string, question: string, signal: AbortSignal): AsyncGenerator<ExecutionPart> {
      const bot = await resolveBot(appId, botId);
      yield* executions.get(bot).run(
        {
          messages: [{ role: 'user', content: question }],
          parameters: {},
          inputs: {},
          user,
          depth: depth + 1,
          runBot: botRunner(appId, user, depth + 1),
        },
        signal,
      );
    };
  }

  async function resolveBot(appId: string, botId: string): Promise<BotRecord> {
    const bot = await cache.getOrLoad(cacheKeys.workflow(appId, botId), () => options.bots.findBot(appId, botId));
    if (!bot) throw new AppError('NOT_FOUND', `Bot "${botId}" was not found for this app.`, { param: 'bot_id' });
    return bot;
  }

  /** A chat belongs to one bot and one user of one app; anyone else reads it as not found. */
  function checkChatOwner(chatId: string, owner: { botId: string; uid: string }, bot: BotRecord, uid: string): void {
    if (owner.uid !== uid) {
      throw new AppError('NOT_FOUND', `Chat "${chatId}" was not found for user "${uid}".`, { param: 'chat_id' });
    }
    if (owner.botId !== bot.botId) {
      throw new AppError('VALIDATION_ERROR', `Chat "${chatId}" belongs to another bot.`, { param: 'chat_id' });
    }
  }

  async function loadHistory(
    appId: string,
    bot: BotRecord,
    chatId: string | undefined,
    uid: string,
  ): Promise<ModelMessage[]> {
    if (chatId === undefined) return [];
    let session = await cache.get<{ botId: string; uid?: string }>(cacheKeys.session(appId, chatId));
    // Entries written before chats were bound to users name no user: read the chat again.
    if (session?.uid === undefined) {
      session = await options.runs.findChat(appId, chatId);
      if (session) await cache.set(cacheKeys.session(appId, chatId), session);
    }
    if (session === undefined) return [];
    checkChatOwner(chatId, { botId: session.botId, uid: session.uid ?? '' }, bot, uid);
    const stored = await cache.getOrLoad(cacheKeys.history(appId, chatId), () =>
      options.runs.loadHistory({ appId, chatId, limit: STORED_HISTORY_LIMIT }),
    );
    const budget = bot.definition.kind === 'chat' ? bot.definition.history : undefined;
    return applyHistoryBudget(stored ?? [], budget);
  }

  /** Writes the run's start (its user message and a `running` row); refuses another user's chat. */
  async function saveRunStart(run: RunHeader, bot: BotRecord): Promise<void> {
    try {
      await options.runs.recordRunStart(run);
    } catch (error) {
      if (error instanceof ChatOwnerError && run.chatId !== undefined) {
        checkChatOwner(run.chatId, error.owner, bot, run.uid);
      }
      throw error;
    }
    if (run.chatId !== undefined) {
      await cache.delete(cacheKeys.history(run.appId, run.chatId));
      await cache.set(cacheKeys.session(run.appId, run.chatId), { botId: run.botId, uid: run.uid });
    }
  }

  /** Stores a finished run with its node runs, and lets the chat's next turn see it. */
  async function saveRun(record: RunRecord, nodeRuns: NodeRunRecord[]): Promise<void> {
    await options.runs.recordRun(record);
    await options.nodeRuns?.recordNodeRuns({ appId: record.appId, runId: record.runId, nodeRuns });
    if (record.chatId !== undefined) await cache.delete(cacheKeys.history(record.appId, record.chatId));
  }

  /**
   * Records a run whose instance stopped before it ended, as failed with `error`, from its header and
   * the events it logged. Another instance calls this (the run manager's follower that ends the run).
   */
  async function recordLostRun(run: RunHeader, events: AsyncIterable<ChatEvent>, error: AppError): Promise<void> {
    const answer = await collectAnswer(toRunStart(run), events);
    await saveRun(
      {
        ...run,
        status: 'failed',
        finishReason: undefined,
        error: { code: error.code, message: error.message },
        usage: answer.usage,
        timeToFirstTokenMs: undefined,
        durationMs: Date.now() - run.createdAt,
        answer: {
          content: answer.content,
          reasoning: answer.reasoning,
          toolCalls: answer.toolCalls.map(toStoredToolCall),
        },
      },
      [],
    );
  }

  /**
   * Runs one chat. Errors before the first event (unknown bot, bad history) are thrown; after it
   * they end the stream with an `error` event. Aborting `signal` stops the model at once and the
   * run is recorded as cancelled; no event follows an abort.
   */
  async function* runChat(request: ChatRequest, context: ChatContext, signal: AbortSignal): AsyncGenerator<ChatEvent> {
    const startedAt = Date.now();
    const bot = await resolveBot(context.appId, request.botId);
    const execution = executions.get(bot);
    const history = await loadHistory(context.appId, bot, request.chatId, request.uid);
    await options.inputAudit?.check(request, bot.definition, signal);
    signal.throwIfAborted();

    const runId = request.runId ?? createId('run');
    const run: RunHeader = {
      runId,
      appId: context.appId,
      botId: bot.botId,
      botVersion: bot.version,
      chatId: request.chatId,
      uid: request.uid,
      apiKeyId: context.apiKeyId,
      transport: context.transport,
      model: execution.modelName,
      caller: request.caller,
      callerSid: request.callerSid,
      createdAt: startedAt,
      question: request.messages.at(-1)?.content ?? '',
    };

    let seq = 0;
    // Not `{ ...body, seq }`: on Node 20's V8 a spread followed by another property gives every
    // object a hidden class of its own (measured: 60,000 events, 60,000 maps), which costs memory
    // and makes every reader of events megamorphic. Object.assign onto a literal shares one.
    const numbered = (body: ChatEventBody): ChatEvent => Object.assign({}, body, { seq: seq++ });
    let content = '';
    let reasoning = '';
    const toolCalls: StoredToolCall[] = [];
    let usage = EMPTY_USAGE;
    let finishReason: FinishReason | undefined;
    let firstTokenAt: number | undefined;
    let failure: AppError | undefined;
    let status: RunRecord['status'] = 'running';
    const nodeRuns: NodeRunRecord[] = [];

    /** Writes the run exactly once; before the terminal event, so a caller's next turn sees it. */
    let recorded = false;
    /** Returns why the run could not be saved, if it could not. */
    const record = async (): Promise<AppError | undefined> => {
      if (recorded) return undefined;
      let saveError: AppError | undefined;
      recorded = true;
      const durationMs = Date.now() - startedAt;
      const runRecord: RunRecord = {
        ...run,
        status,
        finishReason: status === 'cancelled' ? 'cancelled' : finishReason,
        error: failure ? { code: failure.code, message: failure.message } : undefined,
        usage,
        timeToFirstTokenMs: firstTokenAt === undefined ? undefined : firstTokenAt - startedAt,
        durationMs,
        answer: { content, reasoning, toolCalls },
      };
      observeRun(options.metrics, runRecord);
      try {
        await saveRun(runRecord, nodeRuns);
      } catch (error) {
        options.logger.error({ err: error, runId }, 'could not record run');
        saveError = toAppError(error);
      }
      options.logger.info(
        {
          requestId: context.requestId,
          runId,
          appId: context.appId,
          botId: bot.botId,
          transport: context.transport,
          status,
          code: failure?.code ?? 0,
          ttftMs: runRecord.timeToFirstTokenMs,
          durationMs,
          totalTokens: usage.totalTokens,
        },
        'run finished',
      );
      return saveError;
    };

    const release = await options.admission.admit(context);
    try {
      await saveRunStart(run, bot);
    } catch (error) {
      await release();
      throw error;
    }
    options.metrics.activeRuns.inc();
    // The run's own signal: the caller's, or the run timeout's (RUN_TIMEOUT_SECONDS, code 1005).
    const deadline = childSignal(signal, options.runTimeoutMs);
    try {
      request.onStart?.(run);
      yield numbered(toRunStart(run));
      const input: BotInput = {
        messages: [...history, ...request.messages],
        // Unset request parameters must not hide the bot's defaults.
        parameters: withoutUndefined(request.parameters),
        inputs: request.inputs ?? {},
        tools: request.tools,
        toolChoice: request.toolChoice,
        user: request.uid,
        onNodeRun: (nodeRun) => nodeRuns.push(nodeRun),
        runBot: botRunner(context.appId, request.uid, 0),
      };
      for await (const part of execution.run(input, deadline.signal)) {
        switch (part.type) {
          case 'text-delta':
            firstTokenAt ??= Date.now();
            content += part.text;
            yield numbered(part);
            break;
          case 'reasoning-delta':
            firstTokenAt ??= Date.now();
            reasoning += part.text;
            yield numbered(part);
            break;
          case 'tool-call':
            firstTokenAt ??= Date.now();
            toolCalls.push(toStoredToolCall(part));
            yield numbered(part);
            break;
          case 'usage':
            usage = addUsage(usage, part.usage);
            yield numbered({ type: 'usage', usage });
            break;
          case 'step-start':
          case 'step-end':
            yield numbered(part);
            break;
          case 'finish':
            finishReason = part.finishReason;
            break;
        }
      }
      finishReason ??= 'stop';
      status = 'succeeded';
      const saveError = await record();
      // An answer that could not be saved is not a success the caller can build on (history, usage).
      if (saveError) {
        yield numbered({
          type: 'error',
          code: saveError.code,
          message: saveError.message,
          retryable: saveError.retryable,
        });
      } else {
        yield numbered({ type: 'finish', finishReason, usage });
      }
    } catch (error) {
      if (signal.aborted) {
        status = 'cancelled';
        return;
      }
      if (deadline.timedOut && (isAbortError(error) || (error as Error).name === 'TimeoutError')) {
        failure = new AppError(
          'TIMEOUT_ERROR',
          `The run took longer than ${Math.round(options.runTimeoutMs / 1000)} s and was stopped.`,
        );
      } else {
        failure = toAppError(error);
        if (failure.errorName === 'UNKNOWN_ERROR') options.logger.error({ err: error, runId }, 'run failed');
      }
      status = failure.errorName === 'TIMEOUT_ERROR' ? 'timeout' : 'failed';
      await record();
      yield numbered({ type: 'error', code: failure.code, message: failure.message, retryable: failure.retryable });
    } finally {
      // Reached also on abort and when the consumer stops iterating early.
      if (status === 'running') status = 'cancelled';
      deadline.dispose();
      await record();
      await release();
    }
  }

  return {
    runChat,
    recordLostRun,
  };
}
export type ChatService = ReturnType<typeof createChatService>;

function addUsage(total: Usage, more: Usage): Usage {
  return {
    promptTokens: total.promptTokens + more.promptTokens,
    completionTokens: total.completionTokens + more.completionTokens,
    totalTokens: total.totalTokens + more.totalTokens,
  };
}

function toStoredToolCall(call: Omit<StoredToolCall, 'result'> & { result?: string | undefined }): StoredToolCall {
  const { id, kind, name, arguments: callArguments, result } = call;
  return { id, kind, name, arguments: callArguments, ...(result === undefined ? {} : { result }) };
}

function observeRun(metrics: Metrics, record: RunRecord): void {
  const { transport } = record;
  metrics.activeRuns.dec();
  metrics.runs.inc({ transport, bot: record.botId, status: record.status, code: record.error?.code ?? 0 });
  metrics.runDuration.observe({ transport }, record.durationMs / 1000);
  if (record.timeToFirstTokenMs !== undefined)
    metrics.timeToFirstToken.observe({ transport }, record.timeToFirstTokenMs / 1000);
  metrics.tokens.inc({ kind: 'prompt' }, record.usage.promptTokens);
  metrics.tokens.inc({ kind: 'completion' }, record.usage.completionTokens);
}

/**
 * Waits for a run's first event, `run-start`: everything that can refuse a request (unknown bot,
 * limits, input checks) has then been decided, and errors are still thrown, before any byte is sent.
 */
export async function awaitRunStart(events: AsyncGenerator<ChatEvent>): Promise<RunStart> {
  const first = await events.next();
  if (first.done || first.value.type !== 'run-start')
    throw new AppError('UNKNOWN_ERROR', 'The run ended before it started.');
  return first.value;
}
