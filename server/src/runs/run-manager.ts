import { createHash } from 'node:crypto';
import { errorTable, type ChatEvent } from '@astron-chat/shared';
import type { Logger } from 'pino';
import { AppError } from '../errors/app-error.ts';
import { childSignal } from '../lib/abort.ts';
import { createId } from '../lib/ids.ts';
import { zeroUsage } from '../lib/usage.ts';
import type { ChatContext, ChatRequest } from '../chat/chat-request.ts';
import type { ChatService, StartedRun } from '../chat/run-chat.ts';
import {
  isTerminal,
  oneRun,
  toRunStart,
  type RunEvents,
  type RunLog,
  type RunOwner,
  type RunStart,
} from '../run-log/run-log.ts';

export type RunManagerOptions = {
  chat: ChatService;
  runLog: RunLog;
  logger: Logger;
  /** ORPHAN_TIMEOUT_SECONDS in ms: a run that no client has followed this long is cancelled. */
  orphanTimeoutMs: number;
  /** How long a finished run's events stay for late resumes, seconds; 600 when not given. */
  keepFinishedSeconds?: number;
  /** RUN_TIMEOUT_SECONDS in ms: the longest a run goes on, so a reservation outlives its run; 600 s when not given. */
  runTimeoutMs?: number;
};

/**
 * What makes a started run idempotent: `key` (app, and user for an idempotency key) holds
 * `runId fingerprint` while the run and its log are kept; the fingerprint is of the request, so a
 * key reused for another request is refused rather than answered with the wrong run.
 */
type Reservation = { key: string; fingerprint: string; param: string };

/** How long a retry waits for the request first sent with its key to open the run, ms. */
const RESERVED_START_WAIT_MS = 10_000;
const RESERVED_START_POLL_MS = 50;

/** A run this instance executes. `attached`: its caller reads it directly and ends it by leaving. */
type LocalRun = { abort: () => void; owner: RunOwner; attached: boolean; reservation?: Reservation | undefined };

/** How long reading back a lost run's answer waits for an event the log may never get. */
const LOST_RUN_READ_MS = 2_000;
/** How often an instance says it still runs its runs, ms (at most; sooner with a short orphan timeout). */
const OWNER_BEAT_MS = 1_000;
/** The same, at start-up, for a run whose process is known dead: what the log holds is all there is. */
const INTERRUPTED_READ_MS = 250;

function toErrorEvent(error: AppError, seq: number): ChatEvent {
  return { type: 'error', seq, code: error.code, message: error.message, retryable: error.retryable };
}

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
  const keepFinishedSeconds = options.keepFinishedSeconds ?? 600;
  /** A reservation lasts the run's longest life and its log's; when the run ends, only as long as its log. */
  const reservationSeconds = Math.ceil((options.runTimeoutMs ?? 600_000) / 1000) + keepFinishedSeconds;
  /** Runs this instance executes, with their owner record (its header). */
  const local = new Map<string, LocalRun>();
  /** Set by a shutdown past its deadline: attached runs stopped now end with a coded event. */
  let stopping = false;
  const heartbeatMs = Math.max(250, Math.floor(options.orphanTimeoutMs / 3));

  runLog.onCancelRequest((runId) => local.get(runId)?.abort());

  /**
   * The owner beats on its own clock, not the orphan timeout's: followers notice a dead instance
   * within OWNER_TTL (three missed beats), whatever ORPHAN_TIMEOUT_SECONDS is.
   */
  const ownerBeatMs = Math.min(heartbeatMs, OWNER_BEAT_MS);
  const ownerTtlMs = ownerBeatMs * 3;
  const ownerBeat = setInterval(() => {
    for (const runId of local.keys()) void runLog.beat(runId, 'owner', ownerTtlMs).catch(() => undefined);
  }, ownerBeatMs);
  ownerBeat.unref();
  const orphanCheck = setInterval(() => {
    for (const [runId, run] of local) {
      // An attached run is followed by its caller for as long as it runs: it ends when they leave.
      if (run.attached) continue;
      void runLog.isAlive(runId, 'follower').then(
        (followed) => {
          if (!followed) {
            logger.info({ runId }, 'run has no followers: cancelling it as an orphan');
            local.get(runId)?.abort();
          }
        },
        () => undefined,
      );
    }
  }, heartbeatMs);
  orphanCheck.unref();

  /**
   * The one place where events wait for the end of an event-loop turn: every event of every run
   * this instance executes goes to the log through here, and a turn's events, of all runs, are one
   * `append` from one `setImmediate`. The log then wakes each follower once per turn, not once per
   * event, and Redis gets one command per turn, not one per run (measured: handing events over one
   * at a time cost about a quarter more CPU per request on tRPC SSE and plain WebSocket at c=64;
   * docs/decisions/2026-12-02-one-entry-into-the-core.md). Below and above it, everything hands
   * over at once.
   */
  const turn = createTurn((batch) =>
    runLog.append(batch).catch((error: unknown) => {
      logger.error({ err: error, runIds: [...batch.keys()] }, 'run log write failed');
    }),
  );

  /** A run that no one reads directly: its events go to the log, and followers read them there. */
  async function pump(runId: string, events: AsyncGenerator<ChatEvent>, first: ChatEvent) {
    let last: ChatEvent = first;
    turn.write(runId, first);
    try {
      for await (const event of events) {
        last = event;
        turn.write(runId, event);
      }
    } catch (error) {
      logger.error({ err: error, runId }, 'run stopped unexpectedly');
    } finally {
      await end(runId, last);
    }
  }

  /**
   * An attached run: its caller gets every event straight from the core, and the log gets the same
   * events for anyone else who follows. Ends when the run does or the caller stops iterating.
   *
   * A plain iterator, not an async generator: it sits on every event of every REST answer, and a
   * generator layer costs several promises per event where this costs one `then`.
   */
  function relay(runId: string, events: AsyncGenerator<ChatEvent>, first: ChatEvent): AsyncIterableIterator<ChatEvent> {
    let last: ChatEvent = first;
    let done = false;
    turn.write(runId, first);
    const finish = (): IteratorResult<ChatEvent> => {
      if (!done) {
        done = true;
        void end(runId, last);
      }
      return { done: true, value: undefined };
    };
    const onResult = (result: IteratorResult<ChatEvent>): IteratorResult<ChatEvent> => {
      if (!result.done) {
        last = result.value;
        turn.write(runId, last);
        return result;
      }
      // Cancelled from elsewhere: the caller learns it the way followers do; stopped by a shutdown, with a code.
      if (!isTerminal(last)) {
        last = stopping ? shutDownAfter(last) : cancelledAfter(last);
        turn.write(runId, last);
        return { done: false, value: last };
      }
      return finish();
    };
    const onError = (error: unknown): IteratorResult<ChatEvent> => {
      logger.error({ err: error, runId }, 'run stopped unexpectedly');
      return finish();
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next() {
        if (done) return Promise.resolve({ done: true, value: undefined });
        return events.next().then(onResult, onError);
      },
      async return() {
        if (!done) {
          await events.return(undefined);
          finish();
        }
        return { done: true, value: undefined };
      },
    };
  }

  async function end(runId: string, last: ChatEvent) {
    // A cancelled run yields no terminal event; followers still need to know it ended.
    if (!isTerminal(last)) turn.write(runId, cancelledAfter(last));
    await turn.drain();
    await runLog.close(runId, keepFinishedSeconds).catch(() => undefined);
    const reservation = local.get(runId)?.reservation;
    if (reservation) {
      await runLog
        .holdReservation(reservation.key, reserved(runId, reservation), keepFinishedSeconds)
        .catch(() => undefined);
    }
    local.delete(runId);
  }

  /**
   * Holds `reservation` for `runId`, or answers the run that holds it already: a retry attaches to
   * the run its first request started. A first request still starting its run is waited for; one
   * whose start failed has given the key back, so the retry starts the run itself.
   */
  async function claim(reservation: Reservation, runId: string): Promise<string> {
    const giveUpAt = Date.now() + RESERVED_START_WAIT_MS;
    for (;;) {
      const held = await runLog.reserve(reservation.key, reserved(runId, reservation), reservationSeconds);
      const [heldRunId = '', fingerprint] = held.split(' ');
      if (heldRunId === runId) return runId;
      if ((fingerprint ?? '') !== reservation.fingerprint) {
        throw new AppError(
          'VALIDATION_ERROR',
          `${reservation.param} was used for another request (run ${heldRunId}): send a new key with a new request.`,
          { param: reservation.param },
        );
      }
      if (local.has(heldRunId) || (await runLog.owner(heldRunId))) return heldRunId;
      if (Date.now() >= giveUpAt) {
        throw new AppError(
          'OVERLOADED',
          `The request first sent with this ${reservation.param} has not started its run yet; try again.`,
          { retryable: true, retryAfterSeconds: 1 },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, RESERVED_START_POLL_MS));
    }
  }

  /**
   * Starts a run in the core and opens it in the log. Nothing may see the run before its first
   * beat (the orphan check would take it for abandoned), so it is registered only after.
   */
  async function open(
    request: ChatRequest,
    context: ChatContext,
    runId: string,
    run: { abort: () => void; signal: AbortSignal; attached: boolean; reservation?: Reservation | undefined },
  ): Promise<StartedRun> {
    const started = await options.chat.start(Object.assign({}, request, { runId }), context, run.signal);
    const { header } = started;
    try {
      // Independent keys: one round trip for them all, not one each. An attached run's caller
      // is its follower: it needs no follower beat.
      await Promise.all([
        runLog.open(header.runId, header),
        runLog.beat(header.runId, 'owner', ownerTtlMs),
        run.attached ? undefined : runLog.beat(header.runId, 'follower', options.orphanTimeoutMs),
      ]);
    } catch (error) {
      // The run log is unreachable: stop the run now (it is recorded and its slot freed).
      run.abort();
      await started.events.return(undefined);
      throw error;
    }
    local.set(header.runId, {
      abort: run.abort,
      owner: header,
      attached: run.attached,
      reservation: run.reservation,
    });
    return started;
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
    if ((await runLog.reserve(`lost:${runId}`, token, keepFinishedSeconds)) === token) {
      const lost = lostRunError();
      const event = toErrorEvent(lost, lastSeq + 1);
      logger.warn({ runId }, 'run lost with its instance: ended for its followers');
      // Recorded before its terminal event, like every run: a follower that sees the end can read the run.
      await options.chat
        .recordLostRun(owner, loggedUpTo(runId, lastSeq, signal), lost)
        .catch((error: unknown) => logger.error({ err: error, runId }, 'could not record a lost run'));
      await runLog.append(oneRun(runId, [event]));
      await runLog.close(runId, keepFinishedSeconds);
      yield event;
      return;
    }
    yield* runLog.follow(runId, lastSeq, signal);
  }

  return {
    /**
     * Starts a run that outlives its caller's connection (tRPC, plain WebSocket) and returns its
     * id once it has started (bad requests, unknown bots and the like throw here, before any event).
     * It goes on until it ends or is cancelled; callers `follow` it, from any instance.
     */
    async start(
      request: ChatRequest,
      context: ChatContext,
      startOptions: StartOptions = {},
    ): Promise<{ runId: string; existing: boolean }> {
      const runId = createId('run');
      const reservation = reservationOf(request, context, startOptions);
      if (reservation) {
        const held = await claim(reservation, runId);
        if (held !== runId) return { runId: held, existing: true };
      }
      const controller = new AbortController();
      const abort = () => controller.abort();
      let started: StartedRun;
      try {
        started = await open(request, context, runId, {
          abort,
          signal: controller.signal,
          attached: false,
          reservation,
        });
      } catch (error) {
        // Refused or failed before it started: a retry with the key gets the same answer, not a missing run.
        if (reservation) {
          await runLog.holdReservation(reservation.key, reserved(runId, reservation), 0).catch(() => undefined);
        }
        throw error;
      }
      void pump(started.header.runId, started.events, started.start);
      return { runId: started.header.runId, existing: false };
    },

    /**
     * Starts a run whose caller reads it to the end (REST): its events come straight from the
     * core, and `caller` aborting (the caller leaving) cancels it at once. It is a run like any
     * other: logged, followable and cancellable from any instance (which aborts `caller`), recorded
     * the same way. The caller's own controller, not a child of it: one less signal per request.
     */
    async run(
      request: ChatRequest,
      context: ChatContext,
      caller: AbortController,
    ): Promise<{ start: RunStart; events: AsyncIterableIterator<ChatEvent> }> {
      const started = await open(request, context, createId('run'), {
        abort: () => caller.abort(),
        signal: caller.signal,
        attached: true,
      });
      return { start: started.start, events: relay(started.header.runId, started.events, started.start) };
    },

    /** Events after `afterSeq`, then live ones, for the run's own app only; keeps the run from being orphaned. */
    async *follow(appId: string, runId: string, afterSeq: number, signal: AbortSignal): AsyncGenerator<ChatEvent> {
      const owner = await ownerOf(appId, runId);
      // Beat as a follower; watch the owner: if its instance stops beating, stop waiting for it.
      const following = childSignal(signal);
      let ownerGone = false;
      let beatAt = Date.now();
      const watch = async () => {
        // The owner is checked every owner beat; the follower beats on the orphan timeout's clock.
        if (Date.now() - beatAt >= heartbeatMs) {
          beatAt = Date.now();
          await runLog.beat(runId, 'follower', options.orphanTimeoutMs);
        }
        if (!(await runLog.isAlive(runId, 'owner'))) {
          ownerGone = true;
          following.abort();
        }
      };
      const heartbeat = setInterval(() => void watch().catch(() => undefined), ownerBeatMs);
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

    /** The run's header as its instance opened it (which transport started it, say), for its own app only. */
    owner(appId: string, runId: string): Promise<RunOwner> {
      return ownerOf(appId, runId);
    },

    /** The run's `run-start` as its instance opened it, for frames of followers that join later. */
    async runStart(appId: string, runId: string): Promise<RunStart> {
      return toRunStart(await ownerOf(appId, runId));
    },

    /** Stops a run of this app wherever it runs. */
    async cancel(appId: string, runId: string): Promise<{ runId: string; cancelled: true }> {
      await ownerOf(appId, runId);
      const mine = local.get(runId);
      if (mine) mine.abort();
      else await runLog.requestCancel(runId);
      return { runId, cancelled: true };
    },

    /**
     * Closes a run its process left `running` (killed, crashed) as failed, with what the run log
     * still holds of its answer, and ends it in the log for anyone who follows it later. Does
     * nothing for a run this instance or a live owner executes, or one another instance already
     * closed. Returns whether this call closed it.
     */
    async closeInterrupted(run: RunOwner, signal: AbortSignal): Promise<boolean> {
      const { runId } = run;
      if (local.has(runId) || (runLog.kind === 'redis' && (await runLog.isAlive(runId, 'owner')))) return false;
      const token = createId('lost');
      if ((await runLog.reserve(`lost:${runId}`, token, keepFinishedSeconds)) !== token) return false;
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
        await runLog.append(oneRun(runId, [toErrorEvent(lost, lastSeq + 1)]));
        await runLog.close(runId, keepFinishedSeconds);
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

    /**
     * After the drain deadline of a shutdown: the runs still read directly (REST) are stopped and
     * their callers get a coded final event (1010, retryable) instead of a cut connection. Waits
     * up to `waitMs` for them to end.
     */
    async stopAttached(waitMs: number): Promise<void> {
      stopping = true;
      for (const run of local.values()) if (run.attached) run.abort();
      const giveUpAt = Date.now() + waitMs;
      while ([...local.values()].some((run) => run.attached) && Date.now() < giveUpAt) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },

    async shutdown() {
      clearInterval(orphanCheck);
      clearInterval(ownerBeat);
      for (const run of local.values()) run.abort();
      await runLog.shutdown();
    },
  };
}
export type RunManager = ReturnType<typeof createRunManager>;

export type StartOptions = {
  /** `chat.runs.create`: one run per `meta_data.caller_sid` and app. */
  idempotent?: boolean;
  /**
   * The caller's key for one request, sent again with every retry and reconnect of it
   * (`chat.completions`' `idempotencyKey`, REST's `Idempotency-Key`): one run per key, app and user.
   * `param` is where the caller put it, for the error of a key reused for another request.
   */
  idempotency?: { key: string; param: string } | undefined;
};

function reservationOf(request: ChatRequest, context: ChatContext, options: StartOptions): Reservation | undefined {
  const scope = (...parts: string[]) => parts.map(encodeURIComponent).join(':');
  if (options.idempotency) {
    // The request as parsed (the same for every retry); the run id the manager adds is not part of it.
    const fingerprint = createHash('sha256')
      .update(JSON.stringify({ ...request, runId: undefined }))
      .digest('base64url')
      .slice(0, 22);
    return {
      key: `idempotency:${scope(context.appId, request.uid, options.idempotency.key)}`,
      fingerprint,
      param: options.idempotency.param,
    };
  }
  // A caller session id names one run, whatever the request: no fingerprint.
  if (options.idempotent && request.callerSid) {
    return { key: scope(context.appId, request.callerSid), fingerprint: '', param: 'meta_data.caller_sid' };
  }
  return undefined;
}

/** What a reservation's key holds: the run, and the request's fingerprint. */
function reserved(runId: string, reservation: Reservation): string {
  return reservation.fingerprint ? `${runId} ${reservation.fingerprint}` : runId;
}

/**
 * Events of every run, gathered until this turn of the event loop is over and then handed to
 * `send` together, in the order they came. `drain` sends what is gathered now and waits for the
 * last send to settle (sends apply in call order, so every earlier one has too).
 */
function createTurn(send: (batch: RunEvents) => Promise<void>) {
  let gathered = new Map<string, ChatEvent[]>();
  let sent: Promise<void> = Promise.resolve();
  const flush = () => {
    if (gathered.size === 0) return;
    const batch = gathered;
    gathered = new Map();
    sent = send(batch);
  };
  return {
    write(runId: string, event: ChatEvent) {
      if (gathered.size === 0) setImmediate(flush);
      const events = gathered.get(runId);
      if (events) events.push(event);
      else gathered.set(runId, [event]);
    },
    async drain() {
      flush();
      await sent;
    },
  };
}

function shutDownAfter(last: ChatEvent): ChatEvent {
  return {
    type: 'error',
    seq: last.seq + 1,
    code: errorTable.OVERLOADED.code,
    message: 'The server is restarting and stopped this run before it finished; try again.',
    retryable: true,
    retryAfterSeconds: 1,
  };
}

function cancelledAfter(last: ChatEvent): ChatEvent {
  return { type: 'finish', seq: last.seq + 1, finishReason: 'cancelled', usage: zeroUsage() };
}
