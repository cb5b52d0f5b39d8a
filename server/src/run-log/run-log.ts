import type { ChatEvent } from '@astron-chat/shared';

export type HeartbeatRole = 'owner' | 'follower';

/**
 * What a run's record holds from its start on; the core builds it before `run-start`. The run log
 * keeps it with the run: subscribers frame with it, and the follower that ends a run lost with its
 * instance records the run from it.
 */
export type RunHeader = {
  runId: string;
  appId: string;
  botId: string;
  botVersion: number;
  chatId: string | undefined;
  uid: string;
  apiKeyId: string | undefined;
  transport: string;
  model: string;
  caller: string | undefined;
  callerSid: string | undefined;
  createdAt: number;
  question: string;
};

/**
 * A run as its instance opened it: followers and cancels are checked against its `appId`, late
 * subscribers frame with it, and a run lost with its instance is recorded from it.
 */
export type RunOwner = RunHeader;

export type RunStart = Extract<ChatEvent, { type: 'run-start' }>;

/** Events to append, by run. */
export type RunEvents = ReadonlyMap<string, ChatEvent[]>;

/** One run's events, for `append`. */
export function oneRun(runId: string, events: ChatEvent[]): RunEvents {
  return new Map([[runId, events]]);
}

/** A run's first event, made from its header (the same on every instance). */
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

/**
 * The events of every run, decoupled from the connection that started it: followers replay what
 * they missed (`afterSeq`) and then follow live, from any instance. Redis Streams in production,
 * an in-process log in embedded mode.
 */
export interface RunLog {
  readonly kind: 'redis' | 'memory';
  open(runId: string, owner: RunOwner): Promise<void>;
  /**
   * Events of one or more runs, each run's in order, in one write (the run manager hands over a
   * turn's events of every run together; `oneRun` for a single run's). Handed over at once: local
   * followers get them in this call, and a shared log sends one command now. Applied in call
   * order: an append need not wait for the one before it to settle.
   */
  append(runs: RunEvents): Promise<void>;
  owner(runId: string): Promise<RunOwner | undefined>;
  /**
   * Events with `seq > afterSeq`, then live ones, ending after the run's terminal event (`finish`
   * or `error`) or when `signal` aborts. Returns the last event it yielded, if any.
   */
  follow(runId: string, afterSeq: number, signal: AbortSignal): AsyncGenerator<ChatEvent, ChatEvent | undefined>;
  /** Stores `runId` under `key` unless the key holds one already; returns the run id the key holds now. */
  reserve(key: string, runId: string, ttlSeconds: number): Promise<string>;
  /** If `key` still holds `runId`: keep it `ttlSeconds` from now (the run ended: as long as its log), or drop it at 0. */
  holdReservation(key: string, runId: string, ttlSeconds: number): Promise<void>;
  /** Asks whichever instance runs `runId` to stop it (every instance hears it). */
  requestCancel(runId: string): Promise<void>;
  /** Called with the run id of every cancel request, from any instance. */
  onCancelRequest(listener: (runId: string) => void): void;
  /**
   * Liveness, from any instance: `owner` is the instance executing the run (followers give up on a
   * run whose owner stopped beating), `follower` any client following it (an owner stops a run
   * nobody follows). Each beat keeps the role alive for `ttlMs`.
   */
  beat(runId: string, role: HeartbeatRole, ttlMs: number): Promise<void>;
  isAlive(runId: string, role: HeartbeatRole): Promise<boolean>;
  /** The run ended: keep its log `ttlSeconds` more for late resumes, then forget it. */
  close(runId: string, ttlSeconds: number): Promise<void>;
  shutdown(): Promise<void>;
}

export function isTerminal(event: ChatEvent | undefined): boolean {
  return event?.type === 'finish' || event?.type === 'error';
}

/**
 * What a follower waits on between events: `wait()` resolves on `wake()` or when `signal` aborts.
 * One abort listener for the follower's life, none per wait: racing every wait against one
 * long-lived abort promise would pile a reaction onto it per event.
 */
export function createWaiter(signal: AbortSignal) {
  let settle: (() => void) | undefined;
  const wake = () => {
    const resolve = settle;
    settle = undefined;
    resolve?.();
  };
  signal.addEventListener('abort', wake, { once: true });
  return {
    wake,
    wait(): Promise<void> {
      if (signal.aborted) return Promise.resolve();
      return new Promise((resolve) => {
        settle = resolve;
      });
    },
    dispose: () => signal.removeEventListener('abort', wake),
  };
}
