import type { ChatEvent, Usage } from '@astron-chat/shared';
import type { Logger } from 'pino';
import { AppError } from '../errors/app-error.ts';
import { childSignal } from '../lib/abort.ts';
import { afterThisTurn } from '../lib/after-this-turn.ts';
import { createId } from '../lib/ids.ts';
import {
  awaitRunStart,
  toRunStart,
  type ChatContext,
  type ChatRequest,
  type ChatService,
  type RunHeader,
  type RunStart,
} from '../chat/run-chat.ts';
import { isTerminal, type RunLog, type RunOwner } from './run-log.ts';

export type RunManagerOptions = {
  chat: ChatService;
  runLog: RunLog;
  logger: Logger;
  /** ORPHAN_TIMEOUT_SECONDS in ms: a run that no client has followed this long is cancelled. */
  orphanTimeoutMs: number;
  /** How long a finished run's events stay for late resumes, seconds. */
  keepFinishedSeconds?: number;
};

const ZERO_USAGE: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
/** How long reading back a lost run's answer waits for an event the log may never get. */
const LOST_RUN_READ_MS = 2_000;
/** The same, at start-up, for a run whose process is known dead: what the log holds is all there is. */
const INTERRUPTED_READ_MS = 250;

/** A run whose process stopped before it ended: the answer so far is kept, and trying again may work. */
function lostRunError(): AppError {
  return new AppError(
    'UNKNOWN_ERROR',
    'The instance running this run stopped before it finished; the answer so far is kept. Start it again.',
    { retryable: true },
  );
}

/**
 * Runs decoupled from connections: a run started here goes on when its client drops, writes every
 * event to the run log, and can be followed (replay, then live), broadcast and cancelled from any
 * instance. Follower heartbeats keep it alive; without any for the orphan timeout it is stopped.
 */
export function createRunManager(options: RunManagerOptions) {
  const { runLog, logger } = options;
  /** Runs this instance executes, with their owner record (its header). */
  const local = new Map<string, { controller: AbortController; owner: RunOwner }>();
  const heartbeatMs = Math.max(250, Math.floor(options.orphanTimeoutMs / 3));

  runLog.onCancelRequest((runId) => local.get(runId)?.controller.abort());

  /** A beat outlives three missed intervals before anyone gives up on its sender. */
  const ownerTtlMs = heartbeatMs * 3;
  const orphanCheck = setInterval(() => {
    for (const runId of local.keys()) {
      void runLog.beat(runId, 'owner', ownerTtlMs).catch(() => undefined);
      void runLog.isAlive(runId, 'follower').then(
        (followed) => {
          if (!followed) {
            logger.info({ runId }, 'run has no followers: cancelling it as an orphan');
            local.get(runId)?.controller.abort();
          }
        },
        () => undefined,
      );
    }
  }, heartbeatMs);
  orphanCheck.unref();

  /** Writes events in order, batching those produced in the same event-loop turn. */
  function createWriter(runId: string) {
    let pending: ChatEvent[] = [];
    let written = Promise.resolve();
    let scheduled = false;
    const onError = (error: unknown) => logger.error({ err: error, runId }, 'run log write failed');
    const flush = () => {
      scheduled = false;
      const batch = pending;
      pending = [];
      // The log applies a run's appends in call order: this one need not wait for the last.
      written = runLog.append(runId, batch).catch(onError);
    };
    return {
      write(event: ChatEvent) {
        pending.push(event);
        if (!scheduled) {
          scheduled = true;
          afterThisTurn(flush);
        }
      },
      async drain() {
        if (scheduled) flush();
        await written;
      },
    };
  }

  async function pump(runId: string, events: AsyncGenerator<ChatEvent>, first: ChatEvent) {
    const writer = createWriter(runId);
    let last: ChatEvent = first;
    writer.write(first);
    try {
      for await (const event of events) {
        last = event;
        writer.write(event);
      }
    } catch (error) {
      logger.error({ err: error, runId }, 'run stopped unexpectedly');
    } finally {
      // A cancelled run yields no terminal event; followers still need to know it ended.
      if (!isTerminal(last)) {
        writer.write({ type: 'finish', seq: last.seq + 1, finishReason: 'cancelled', usage: ZERO_USAGE });
      }
      await writer.drain();
      await runLog.close(runId, options.keepFinishedSeconds ?? 600).catch(() => undefined);
      local.delete(runId);
    }
  }

  /**
   * The run's owner record, for the run's own app only (another app's run reads as not found). A
   * run this instance executes needs no round trip to the log: its first follower is usually here.
   */
  async function ownerOf(appId: string, runId: string): Promise<RunOwner> {
    const owner = local.get(runId)?.owner ?? (await runLog.owner(runId));
    if (!owner || owner.appId !== appId) {
      throw new AppError('NOT_FOUND', `Run "${runId}" was not found for this app.`, { param: 'runId' });
    }
    return owner;
  }

  /**
   * The events the run logged up to `lastSeq`, as far as the log holds them. The log may hold fewer
   * than a follower saw: an instance killed right after handing events to its own followers may not
   * have written them yet. So the read-back gives up after LOST_RUN_READ_MS without a new event.
   */
  async function* loggedUpTo(
    runId: string,
    lastSeq: number,
    signal: AbortSignal,
    quietMs = LOST_RUN_READ_MS,
  ): AsyncGenerator<ChatEvent> {
    if (lastSeq < 0) return;
    const reading = childSignal(signal);
    let quiet = setTimeout(reading.abort, quietMs);
    try {
      for await (const event of runLog.follow(runId, -1, reading.signal)) {
        yield event;
        if (event.seq >= lastSeq) return;
        clearTimeout(quiet);
        quiet = setTimeout(reading.abort, quietMs);
      }
    } catch (error) {
      logger.warn({ err: error, runId }, 'lost run: its logged answer could not be read back in full');
    } finally {
      clearTimeout(quiet);
      reading.dispose();
    }
  }

  /**
   * The instance running the run stopped (crashed, killed) before the run ended. The first follower
   * to notice records the run as failed and writes the terminal error; the others receive it from the log.
   */
  async function* endLostRun(owner: RunOwner, lastSeq: number, signal: AbortSignal): AsyncGenerator<ChatEvent> {
    const { runId } = owner;
    const token = createId('lost');
    if ((await runLog.reserve(`lost:${runId}`, token, options.keepFinishedSeconds ?? 600)) === token) {
      const lost = lostRunError();
      const event: ChatEvent = {
        type: 'error',
        seq: lastSeq + 1,
        code: lost.code,
        message: lost.message,
        retryable: true,
      };
      logger.warn({ runId }, 'run lost with its instance: ended for its followers');
      // Recorded before its terminal event, like every run: a follower that sees the end can read the run.
      await options.chat
        .recordLostRun(owner, loggedUpTo(runId, lastSeq, signal), lost)
        .catch((error: unknown) => logger.error({ err: error, runId }, 'could not record a lost run'));
      await runLog.append(runId, [event]);
      await runLog.close(runId, options.keepFinishedSeconds ?? 600);
      yield event;
      return;
    }
    yield* runLog.follow(runId, lastSeq, signal);
  }

  return {
    /**
     * Starts a run and returns its id once it has started (bad requests, unknown bots and the like
     * throw here, before any event). The run goes on without its caller until it ends or is cancelled.
     */
    async start(
      request: ChatRequest,
      context: ChatContext,
      startOptions: { idempotent?: boolean } = {},
    ): Promise<{ runId: string; existing: boolean }> {
      let runId = createId('run');
      if (startOptions.idempotent && request.callerSid) {
        // One run per caller session id and app: a retried create returns the run already going.
        const held = await runLog.reserve(
          `${context.appId}:${request.callerSid}`,
          runId,
          options.keepFinishedSeconds ?? 600,
        );
        if (held !== runId) return { runId: held, existing: true };
      }
      const controller = new AbortController();
      let header: RunHeader | undefined;
      const onStart = (run: RunHeader) => {
        header = run;
      };
      const events = options.chat.runChat({ ...request, runId, onStart }, context, controller.signal);
      const start = await awaitRunStart(events);
      runId = start.runId;
      try {
        // Set just before run-start, which awaitRunStart has seen.
        if (!header) throw new AppError('UNKNOWN_ERROR', 'The run started without its header.');
        // Independent keys: one round trip for the three, not three.
        await Promise.all([
          runLog.open(runId, header),
          runLog.beat(runId, 'owner', ownerTtlMs),
          runLog.beat(runId, 'follower', options.orphanTimeoutMs),
        ]);
      } catch (error) {
        // The run log is unreachable: stop the run now (it is recorded and its slot freed).
        controller.abort();
        await events.return(undefined);
        throw error;
      }
      // Only now may the orphan check see the run: before its first beat it would look abandoned.
      local.set(runId, { controller, owner: header });
      void pump(runId, events, start);
      return { runId, existing: false };
    },

    /** Events after `afterSeq`, then live ones, for the run's own app only; keeps the run from being orphaned. */
    async *follow(appId: string, runId: string, afterSeq: number, signal: AbortSignal): AsyncGenerator<ChatEvent> {
      const owner = await ownerOf(appId, runId);
      // Beat as a follower; watch the owner: if its instance stops beating, stop waiting for it.
      const following = childSignal(signal);
      let ownerGone = false;
      const watch = async () => {
        await runLog.beat(runId, 'follower', options.orphanTimeoutMs);
        if (!(await runLog.isAlive(runId, 'owner'))) {
          ownerGone = true;
          following.abort();
        }
      };
      const heartbeat = setInterval(() => void watch().catch(() => undefined), heartbeatMs);
      // Not awaited: the first events need not wait for the beat's round trip.
      void runLog.beat(runId, 'follower', options.orphanTimeoutMs).catch(() => undefined);
      try {
        // `yield*`, not a loop that re-yields: this sits on every event's path, and delegating
        // costs about half the promises per event (docs/decisions/2026-11-25-fewer-layers-per-event.md).
        const lastLive = yield* runLog.follow(runId, afterSeq, following.signal);
        if (isTerminal(lastLive) || !ownerGone || signal.aborted) return;
        // What the owner wrote before it stopped, then one terminal event for every follower.
        const lastSeq = lastLive?.seq ?? afterSeq;
        const lastLogged = yield* runLog.follow(runId, lastSeq, following.signal);
        if (isTerminal(lastLogged)) return;
        yield* endLostRun(owner, lastLogged?.seq ?? lastSeq, signal);
      } finally {
        clearInterval(heartbeat);
        following.dispose();
      }
    },

    /** The run's `run-start` as its instance opened it, for frames of followers that join later. */
    async runStart(appId: string, runId: string): Promise<RunStart> {
      return toRunStart(await ownerOf(appId, runId));
    },

    /** Stops a run of this app wherever it runs. */
    async cancel(appId: string, runId: string): Promise<{ runId: string; cancelled: true }> {
      await ownerOf(appId, runId);
      const mine = local.get(runId);
      if (mine) mine.controller.abort();
      else await runLog.requestCancel(runId);
      return { runId, cancelled: true };
    },

    /**
     * Closes a run its process left `running` (killed, crashed) as failed, with what the run log
     * still holds of its answer, and ends it in the log for anyone who follows it later. Does
     * nothing for a run this instance or a live owner executes, or one another instance already
     * closed. Returns whether this call closed it.
     */
    async closeInterrupted(run: RunHeader, signal: AbortSignal): Promise<boolean> {
      const { runId } = run;
      if (local.has(runId) || (runLog.kind === 'redis' && (await runLog.isAlive(runId, 'owner')))) return false;
      const token = createId('lost');
      if ((await runLog.reserve(`lost:${runId}`, token, options.keepFinishedSeconds ?? 600)) !== token) return false;
      const logged = runLog.kind === 'redis' && (await runLog.owner(runId)) !== undefined;
      let lastSeq = -1;
      async function* tracked(): AsyncGenerator<ChatEvent> {
        if (!logged) return;
        for await (const event of loggedUpTo(runId, Number.MAX_SAFE_INTEGER, signal, INTERRUPTED_READ_MS)) {
          lastSeq = event.seq;
          yield event;
        }
      }
      const lost = lostRunError();
      await options.chat.recordLostRun(run, tracked(), lost);
      if (logged) {
        const event: ChatEvent = {
          type: 'error',
          seq: lastSeq + 1,
          code: lost.code,
          message: lost.message,
          retryable: true,
        };
        await runLog.append(runId, [event]);
        await runLog.close(runId, options.keepFinishedSeconds ?? 600);
      }
      logger.warn({ runId }, 'run interrupted with its process: recorded as failed');
      return true;
    },

    /** Runs this instance is executing now. */
    get activeRuns() {
      return local.size;
    },

    /** Waits until this instance's runs have ended, or `deadlineMs` has passed. */
    async drain(deadlineMs: number): Promise<void> {
      const giveUpAt = Date.now() + deadlineMs;
      while (local.size > 0 && Date.now() < giveUpAt) await new Promise((resolve) => setTimeout(resolve, 25));
    },

    async shutdown() {
      clearInterval(orphanCheck);
      for (const { controller } of local.values()) controller.abort();
      await runLog.shutdown();
    },
  };
}
export type RunManager = ReturnType<typeof createRunManager>;
