import type { ChatEvent, ChatEventBody } from '@astron-chat/shared';
import type { Logger } from 'pino';
import { AppError, isAbortError, toAppError } from '../errors/app-error.ts';
import { cacheKeys, type Cache } from '../cache/cache.ts';
import type { Admission } from './admission.ts';
import type { ChatContext, ChatRequest } from './chat-request.ts';
import { applyHistoryBudget, STORED_HISTORY_LIMIT } from './history-budget.ts';
import { childSignal } from '../lib/abort.ts';
import { createId } from '../lib/ids.ts';
import { withoutUndefined } from '../lib/objects.ts';
import type { ModelMessage } from '../providers/chat-model.ts';
import { toRunStart, type RunHeader, type RunStart } from '../run-log/run-log.ts';
import { createExecutionCache, type BotExecution, type BotInput, type ExecutionPart } from '../workflow/execute-bot.ts';
import type { HttpCaller } from '../workflow/http-call.ts';
import type { NodeRunRecord, NodeRunRepository } from '../store/node-run.repository.ts';
import type { InputAudit } from './input-audit.ts';
import type { ObservedRun, RunObserver } from '../observability/run-observer.ts';
import { runFinishedEvents, runStartedEvent } from '../observability/run-events.ts';
import type { ModelRegistry } from '../providers/model-registry.ts';
import type { BotRecord, BotRepository } from '../store/bot.repository.ts';
import { ChatOwnerError, type RunRecord, type RunRepository } from '../store/run.repository.ts';
import { collectAnswer } from './collect-answer.ts';
import { RunTally, toStoredToolCall } from './run-tally.ts';
import { applyCallerLimits } from './caller-limits.ts';

export type ChatServiceOptions = {
  bots: BotRepository;
  runs: RunRepository;
  models: ModelRegistry;
  logger: Logger;
  /** Metrics and traces of runs (observability/run-observer.ts). */
  observer: RunObserver;
  /** With EVENT_SINK_URL: run events go to the outbox (with the run's rows) and the relay is nudged. */
  events?: { nudge(): void } | undefined;
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

/**
 * A run that has started: everything that can refuse it (unknown bot, limits, input checks) has
 * been decided. `events` are the ones after `start`; iterate them to the end, or `return()` them.
 */
export type StartedRun = { header: RunHeader; start: RunStart; events: AsyncGenerator<ChatEvent> };

/** A run decided on but not started: its bot, what it answers from, and its header. */
type PreparedRun = {
  bot: BotRecord;
  execution: BotExecution;
  history: ModelMessage[];
  header: RunHeader;
  /** The caller's parameters and tools as the bot takes them (its callerLimits applied). */
  taken: ReturnType<typeof applyCallerLimits>;
};

/** How long a stopped run waits for its model calls' usage before it is recorded without it. */
const UNREPORTED_USAGE_WAIT_MS = 5_000;

/** The one core. The run manager is its only caller: transports reach it through `runs/`. */
export function createChatService(options: ChatServiceOptions) {
  const executions = createExecutionCache({
    models: options.models,
    http: options.http,
    retryDelayScale: options.retryDelayScale,
  });
  const resolveBot = (appId: string, botId: string) => findBot(options, appId, botId);

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
          modelContext: { appId },
          depth: depth + 1,
          runBot: botRunner(appId, user, depth + 1),
        },
        signal,
      );
    };
  }

  async function prepare(request: ChatRequest, context: ChatContext, signal: AbortSignal): Promise<PreparedRun> {
    const createdAt = Date.now();
    const bot = await resolveBot(context.appId, request.botId);
    const execution = executions.get(bot);
    const history = await loadHistory(options, context.appId, bot, request.chatId, request.uid);
    const taken = applyCallerLimits(bot.definition, request);
    await options.inputAudit?.check(request, bot.definition, signal);
    signal.throwIfAborted();
    const question = request.messages.at(-1);
    const header: RunHeader = {
      runId: request.runId ?? createId('run'),
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
      createdAt,
      question: question?.content ?? '',
      ...(question?.role === 'user' && question.parts ? { questionParts: question.parts } : {}),
    };
    return { bot, execution, history, header, taken };
  }

  /**
   * Runs a prepared chat: `run-start`, the answer, then `finish` or `error`. Aborting `signal`
   * stops the model at once and the run is recorded as cancelled; no event follows an abort.
   */
  async function* execute(
    run: PreparedRun,
    request: ChatRequest,
    context: ChatContext,
    signal: AbortSignal,
  ): AsyncGenerator<ChatEvent> {
    const { header } = run;
    let seq = 0;
    // Not `{ ...body, seq }`: on Node 20's V8 a spread followed by another property gives every
    // object a hidden class of its own (measured: 60,000 events, 60,000 maps), which costs memory
    // and makes every reader of events megamorphic. Object.assign onto a literal shares one
    // (docs/decisions/2026-12-03-no-spread-then-properties.md).
    const numbered = (body: ChatEventBody): ChatEvent => Object.assign({}, body, { seq: seq++ });
    const tally = new RunTally(header);
    const nodeRuns: NodeRunRecord[] = [];
    let status: RunRecord['status'] = 'running';
    let failure: AppError | undefined;

    /** Writes the run exactly once; before the terminal event, so a caller's next turn sees it. */
    let recorded = false;
    const record = async (): Promise<AppError | undefined> => {
      if (recorded) return undefined;
      recorded = true;
      await tally.settleUnreported(UNREPORTED_USAGE_WAIT_MS);
      return finishRecord(options, observed, tally.toRecord(status, failure), nodeRuns, context.requestId);
    };

    const release = await options.admission.admit(context);
    try {
      await saveRunStart(options, header, run.bot);
    } catch (error) {
      await release();
      throw error;
    }
    const observed = options.observer.start(header, run.bot.definition.kind);
    // The run's own signal: the caller's, or the run timeout's (RUN_TIMEOUT_SECONDS, code 1005).
    const deadline = childSignal(signal, options.runTimeoutMs);
    try {
      options.events?.nudge();
      yield numbered(toRunStart(header));
      const input: BotInput = {
        messages: [...run.history, ...request.messages],
        // Unset request parameters must not hide the bot's defaults.
        parameters: withoutUndefined(run.taken.parameters),
        inputs: request.inputs ?? {},
        tools: run.taken.tools,
        toolChoice: request.toolChoice,
        forwarded: request.forwarded,
        // A model call cut short (cancel, failure) before it reported usage still counts.
        trackUnreportedUsage: (pending) => tally.trackUnreported(pending),
        user: request.uid,
        onNodeRun: (nodeRun) => {
          nodeRuns.push(nodeRun);
          observed.nodeRun(nodeRun);
        },
        runBot: botRunner(context.appId, request.uid, 0),
        modelContext: { appId: context.appId, onAnswer: ({ provider }) => tally.answeredBy(provider) },
        traceAttempt: observed.traceAttempt,
      };
      const parts = run.execution.run(input, deadline.signal);
      for await (const part of observed.bind ? observed.bind(parts) : parts) {
        const event = tally.take(part);
        if (event !== undefined) yield numbered(event);
      }
      const finishReason = tally.finishReason();
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
        yield numbered({ type: 'finish', finishReason, usage: tally.usage });
      }
    } catch (error) {
      if (signal.aborted) {
        status = 'cancelled';
        return;
      }
      failure = runFailure(options, error, deadline.timedOut, header.runId);
      status = failure.errorName === 'TIMEOUT_ERROR' ? 'timeout' : 'failed';
      await record();
      yield numbered({
        type: 'error',
        code: failure.code,
        message: failure.message,
        retryable: failure.retryable,
        ...(failure.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: failure.retryAfterSeconds }),
      });
    } finally {
      // Reached also on abort and when the consumer stops iterating early.
      if (status === 'running') status = 'cancelled';
      deadline.dispose();
      await record();
      await release();
    }
  }

  return {
    /**
     * Starts one chat: resolves once it has started (its header and `run-start`), or throws what
     * refused it (unknown bot, bad history, limits) before any event. Aborting `signal` cancels it.
     */
    async start(request: ChatRequest, context: ChatContext, signal: AbortSignal): Promise<StartedRun> {
      const prepared = await prepare(request, context, signal);
      const events = execute(prepared, request, context, signal);
      const first = await events.next();
      if (first.done || first.value.type !== 'run-start')
        throw new AppError('UNKNOWN_ERROR', 'The run ended before it started.');
      return { header: prepared.header, start: first.value, events };
    },

    /**
     * Records a run whose instance stopped before it ended, as failed with `error`, from its header
     * and the events it logged. Another instance calls this (the run manager's follower that ends the run).
     */
    recordLostRun: (run: RunHeader, events: AsyncIterable<ChatEvent>, error: AppError) =>
      recordLostRun(options, run, events, error),
  };
}
export type ChatService = ReturnType<typeof createChatService>;

/** A run lost with its instance, recorded as failed from its header and the events it logged. */
async function recordLostRun(
  options: ChatServiceOptions,
  run: RunHeader,
  events: AsyncIterable<ChatEvent>,
  error: AppError,
): Promise<void> {
  const answer = await collectAnswer(toRunStart(run), events);
  await saveRun(
    options,
    {
      ...run,
      status: 'failed',
      finishReason: undefined,
      error: { code: error.code, message: error.message },
      usage: answer.usage,
      timeToFirstTokenMs: undefined,
      durationMs: Date.now() - run.createdAt,
      provider: undefined,
      answer: {
        content: answer.content,
        reasoning: answer.reasoning,
        toolCalls: answer.toolCalls.map(toStoredToolCall),
      },
    },
    [],
  );
}

async function findBot(options: ChatServiceOptions, appId: string, botId: string): Promise<BotRecord> {
  const bot = await options.cache.getOrLoad(cacheKeys.workflow(appId, botId), () => options.bots.findBot(appId, botId));
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
  options: ChatServiceOptions,
  appId: string,
  bot: BotRecord,
  chatId: string | undefined,
  uid: string,
): Promise<ModelMessage[]> {
  if (chatId === undefined) return [];
  const { cache } = options;
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

/**
 * Writes the run's start (its user message and a `running` row) before `run-start`, so a crash
 * loses nothing accepted; refuses another user's chat (claimed in the same transaction).
 */
async function saveRunStart(options: ChatServiceOptions, run: RunHeader, bot: BotRecord): Promise<void> {
  try {
    await options.runs.recordRunStart(run, options.events ? [runStartedEvent(run)] : []);
  } catch (error) {
    if (error instanceof ChatOwnerError && run.chatId !== undefined) {
      checkChatOwner(run.chatId, error.owner, bot, run.uid);
    }
    throw error;
  }
  if (run.chatId !== undefined) {
    await options.cache.delete(cacheKeys.history(run.appId, run.chatId));
    await options.cache.set(cacheKeys.session(run.appId, run.chatId), { botId: run.botId, uid: run.uid });
  }
}

/** Stores a finished run with its node runs, and lets the chat's next turn see it. */
async function saveRun(options: ChatServiceOptions, record: RunRecord, nodeRuns: NodeRunRecord[]): Promise<void> {
  await options.runs.recordRun(record, options.events ? runFinishedEvents(record, nodeRuns) : []);
  options.events?.nudge();
  await options.nodeRuns?.recordNodeRuns({ appId: record.appId, runId: record.runId, nodeRuns });
  if (record.chatId !== undefined) await options.cache.delete(cacheKeys.history(record.appId, record.chatId));
}

/** Observes, stores and logs a run that ended; returns why it could not be saved, if it could not. */
async function finishRecord(
  options: ChatServiceOptions,
  observed: ObservedRun,
  record: RunRecord,
  nodeRuns: NodeRunRecord[],
  requestId: string,
): Promise<AppError | undefined> {
  // The service logger with the run's id as a field, not a child logger per run: a pino child
  // serializes (and redacts) its bindings when it is made, about 1.3 KB per run.
  const { logger } = options;
  const { runId } = record;
  let saveError: AppError | undefined;
  observed.finish(record);
  try {
    await saveRun(options, record, nodeRuns);
  } catch (error) {
    logger.error({ runId, err: error }, 'could not record run');
    saveError = toAppError(error);
  }
  logger.info(
    {
      runId,
      requestId,
      appId: record.appId,
      botId: record.botId,
      transport: record.transport,
      status: record.status,
      code: record.error?.code ?? 0,
      ttftMs: record.timeToFirstTokenMs,
      durationMs: record.durationMs,
      totalTokens: record.usage.totalTokens,
    },
    'run finished',
  );
  return saveError;
}

/** Why a run that threw failed: its own timeout (code 1005), or the error as the table knows it. */
function runFailure(options: ChatServiceOptions, error: unknown, timedOut: boolean, runId: string): AppError {
  if (timedOut && (isAbortError(error) || (error as Error).name === 'TimeoutError')) {
    return new AppError(
      'TIMEOUT_ERROR',
      `The run took longer than ${Math.round(options.runTimeoutMs / 1000)} s and was stopped.`,
    );
  }
  const failure = toAppError(error);
  if (failure.errorName === 'UNKNOWN_ERROR') options.logger.error({ runId, err: error }, 'run failed');
  return failure;
}
