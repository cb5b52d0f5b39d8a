import type { ChatEvent } from '@astron-chat/shared';
import { AppError } from '../errors/app-error.ts';
import { createWaiter, isTerminal, type RunLog, type RunOwner } from './run-log.ts';

/** What every append returns: the events are in the log when it does. */
const SETTLED = Promise.resolve();

type Entry = {
  owner: RunOwner;
  events: ChatEvent[];
  /** Sequence number of `events[0]`: older events were dropped past the cap. */
  firstSeq: number;
  wake: Array<() => void>;
  expiresAt: number;
  /** Closed: its events count in `maxClosedEvents`. */
  closed: boolean;
};

/**
 * One process's runs. Bounded three times: at most `maxEventsPerRun` events are kept per run (the
 * oldest go, and a follower that needs them is told so); a closed run is forgotten after its TTL;
 * and closed runs keep at most `maxClosedEvents` events in all, the longest closed forgotten first,
 * so that a busy instance does not hold ten minutes of answers in memory.
 */
export function createMemoryRunLog(options: { maxEventsPerRun?: number; maxClosedEvents?: number } = {}): RunLog {
  const maxEvents = options.maxEventsPerRun ?? 10_000;
  const maxClosedEvents = options.maxClosedEvents ?? 100_000;
  const runs = new Map<string, Entry>();
  /**
   * Closed runs' ids, longest closed first from `closedHead` on (those forgotten since are skipped
   * when reached), and how many events the closed runs hold together. An array with a head, not a
   * Set: taking the oldest of a Set means iterating past every entry deleted from its front, which
   * cost more per closed run the more runs were kept (7 µs with 10,000 kept, 40 µs with 100,000).
   */
  let closedOrder: string[] = [];
  let closedHead = 0;
  let closedEvents = 0;
  const forget = (runId: string) => {
    const entry = runs.get(runId);
    if (entry?.closed) closedEvents -= entry.events.length;
    runs.delete(runId);
  };
  /** Forgets the longest closed runs while the closed ones hold too many events (never `keep`). */
  const trimClosed = (keep?: string) => {
    for (; closedHead < closedOrder.length; closedHead += 1) {
      const oldest = closedOrder[closedHead] as string;
      if (runs.get(oldest)?.closed) {
        if (closedEvents <= maxClosedEvents || oldest === keep) break;
        forget(oldest);
      }
    }
    if (closedHead > 1024 && closedHead * 2 > closedOrder.length) {
      closedOrder = closedOrder.slice(closedHead);
      closedHead = 0;
    }
  };
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [runId, entry] of runs) if (entry.expiresAt <= now) forget(runId);
    trimClosed();
    for (const [runId, until] of aliveUntil) if (until <= now) aliveUntil.delete(runId);
    for (const [key, held] of reservations) if (held.expiresAt <= now) reservations.delete(key);
  }, 5_000);
  sweep.unref();

  const cancelListeners: Array<(runId: string) => void> = [];
  const aliveUntil = new Map<string, number>();
  const reservations = new Map<string, { runId: string; expiresAt: number }>();
  const wakeAll = (entry: Entry) => {
    const waiting = entry.wake;
    entry.wake = [];
    for (const resolve of waiting) resolve();
  };

  return {
    kind: 'memory',
    open(runId, owner) {
      runs.set(runId, { owner, events: [], firstSeq: 0, wake: [], expiresAt: Number.POSITIVE_INFINITY, closed: false });
      return Promise.resolve();
    },
    append(batch) {
      for (const [runId, events] of batch) {
        const entry = runs.get(runId);
        if (!entry) continue;
        const before = entry.events.length;
        for (const event of events) entry.events.push(event);
        const excess = entry.events.length - maxEvents;
        if (excess > 0) {
          entry.events.splice(0, excess);
          entry.firstSeq += excess;
        }
        if (entry.closed) closedEvents += entry.events.length - before;
        wakeAll(entry);
      }
      return SETTLED;
    },
    owner(runId) {
      return Promise.resolve(runs.get(runId)?.owner);
    },
    async *follow(runId, afterSeq, signal) {
      let next = afterSeq + 1;
      let last: ChatEvent | undefined;
      const waiter = createWaiter(signal);
      try {
        for (;;) {
          const entry = runs.get(runId);
          if (!entry)
            throw new AppError('NOT_FOUND', `Run "${runId}" was not found or has expired.`, { param: 'runId' });
          if (next < entry.firstSeq) {
            throw new AppError('NOT_FOUND', `Events of run "${runId}" before ${entry.firstSeq} are no longer kept.`, {
              param: 'lastEventId',
            });
          }
          while (next - entry.firstSeq < entry.events.length) {
            const event = entry.events[next - entry.firstSeq] as ChatEvent;
            next += 1;
            last = event;
            yield event;
            if (isTerminal(event)) return event;
          }
          if (signal.aborted) return last;
          entry.wake.push(waiter.wake);
          await waiter.wait();
          if (signal.aborted) return last;
        }
      } finally {
        waiter.dispose();
      }
    },
    reserve(key, runId, ttlSeconds) {
      const held = reservations.get(key);
      if (held && held.expiresAt > Date.now()) return Promise.resolve(held.runId);
      reservations.set(key, { runId, expiresAt: Date.now() + ttlSeconds * 1000 });
      return Promise.resolve(runId);
    },
    holdReservation(key, runId, ttlSeconds) {
      const held = reservations.get(key);
      if (held?.runId === runId) {
        if (ttlSeconds > 0) held.expiresAt = Date.now() + ttlSeconds * 1000;
        else reservations.delete(key);
      }
      return Promise.resolve();
    },
    requestCancel(runId) {
      for (const listener of cancelListeners) listener(runId);
      return Promise.resolve();
    },
    onCancelRequest(listener) {
      cancelListeners.push(listener);
    },
    beat(runId, role, ttlMs) {
      aliveUntil.set(`${role}:${runId}`, Date.now() + ttlMs);
      return Promise.resolve();
    },
    isAlive(runId, role) {
      return Promise.resolve((aliveUntil.get(`${role}:${runId}`) ?? 0) > Date.now());
    },
    close(runId, ttlSeconds) {
      const entry = runs.get(runId);
      if (entry) {
        entry.expiresAt = Date.now() + ttlSeconds * 1000;
        wakeAll(entry);
        if (!entry.closed) {
          entry.closed = true;
          closedOrder.push(runId);
          closedEvents += entry.events.length;
          trimClosed(runId);
        }
      }
      return Promise.resolve();
    },
    shutdown() {
      clearInterval(sweep);
      runs.clear();
      closedOrder = [];
      closedHead = 0;
      closedEvents = 0;
      return Promise.resolve();
    },
  };
}
