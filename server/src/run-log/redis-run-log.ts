import type { ChatEvent } from '@astron-chat/shared';
import { Redis } from 'ioredis';
import { AppError } from '../errors/app-error.ts';
import { createWaiter, isTerminal, type HeartbeatRole, type RunEvents, type RunLog, type RunOwner } from './run-log.ts';

const MAX_EVENTS_PER_RUN = 10_000;
/** A run's keys outlive its longest possible duration (RUN_TIMEOUT_SECONDS ≤ 1800) until it closes. */
const OPEN_RUN_TTL_SECONDS = 3_600;

const CANCEL_CHANNEL = 'run-cancel';
/** A quiet follower reads the stream itself this often, in case live messages were lost. */
const RESYNC_MS = 1_000;
/**
 * The events of one append (every run of this instance, one turn of its events), in one command:
 * per run, an entry per event (`0-(seq+1)`, field `e`), the log's TTL, and the batch on the run's
 * live channel. KEYS: the logs (`run-log:<runId>`, a run twice if its events skip a seq); ARGV: max
 * entries, TTL seconds, then per key its first seq and its events as JSON, one per line (JSON text
 * never holds a raw newline).
 */
const APPEND_SCRIPT = `
local at = 3
for k = 1, #KEYS do
  local seq = tonumber(ARGV[at])
  local events = ARGV[at + 1]
  at = at + 2
  local from = 1
  while true do
    local to = string.find(events, '\\n', from, true)
    seq = seq + 1
    redis.call('XADD', KEYS[k], 'MAXLEN', '~', ARGV[1], '0-' .. seq, 'e', string.sub(events, from, (to or 0) - 1))
    if not to then break end
    from = to + 1
  end
  redis.call('EXPIRE', KEYS[k], ARGV[2])
  redis.call('PUBLISH', 'run-live:' .. string.sub(KEYS[k], 9), '[' .. (string.gsub(events, '\\n', ',')) .. ']')
end
return 1
`;
/** `holdReservation`: only the run that holds the key moves its expiry (or drops it, at 0). */
const HOLD_RESERVATION_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return redis.call('DEL', KEYS[1])`;

/** Events per append command at most; a busier turn is split over several. */
const MAX_EVENTS_PER_APPEND = 1_000;
// The append script derives a run's live channel from its log key: keep the two prefixes in step.
const logKey = (runId: string) => `run-log:${runId}`;
const heartbeatKey = (runId: string, role: HeartbeatRole) => `run-${role}:${runId}`;
const liveChannel = (runId: string) => `run-live:${runId}`;
const ownerKey = (runId: string) => `run:${runId}`;

/**
 * Redis Streams: each event is an entry with id `0-(seq+1)`, so a follower replays exactly the
 * events after the one it saw with one XRANGE. Live events also go out on a pub/sub channel per run,
 * which an instance subscribes to only while one of its own clients follows that run.
 */
export function createRedisRunLog(url: string): RunLog {
  const options = {
    connectTimeout: 5_000,
    commandTimeout: 5_000,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
  };
  // No auto-pipelining: the run manager hands over a turn's appends as one already, and ioredis
  // builds a pipeline object carrying every command per auto-pipelined turn; with 1,000 streams
  // those outlived young collections (docs/decisions/2026-11-25-fewer-layers-per-event.md).
  const commands = new Redis(url, options) as Redis & {
    appendRuns(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<number>;
    holdReservation(numberOfKeys: 1, key: string, runId: string, ttlSeconds: number): Promise<number>;
  };
  commands.defineCommand('appendRuns', { lua: APPEND_SCRIPT });
  commands.defineCommand('holdReservation', { lua: HOLD_RESERVATION_SCRIPT });
  const subscriber = new Redis(url, options);
  commands.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  const listeners = new Map<string, Set<(events: ChatEvent[]) => void>>();
  const cancelListeners: Array<(runId: string) => void> = [];
  void subscriber.subscribe(CANCEL_CHANNEL).catch(() => undefined);
  subscriber.on('message', (channel: string, message: string) => {
    if (channel === CANCEL_CHANNEL) {
      for (const listener of cancelListeners) listener(message);
      return;
    }
    const runId = channel.slice('run-live:'.length);
    const events = JSON.parse(message) as ChatEvent[];
    for (const listener of listeners.get(runId) ?? []) listener(events);
  });

  /**
   * Followers on this instance. One timer for all of them, not one per wait: every RESYNC_MS, a
   * follower that heard nothing for that long reads the stream itself, in case live messages were lost.
   */
  const followers = new Set<{ heardAt: number; resync: boolean; wake: () => void }>();
  const resync = setInterval(() => {
    const quietSince = Date.now() - RESYNC_MS;
    for (const follower of followers) {
      if (follower.heardAt > quietSince) continue;
      follower.resync = true;
      follower.wake();
    }
  }, RESYNC_MS);
  resync.unref();

  /**
   * One append as one or more commands, sent now: a script call carries every run of the batch
   * (the run manager hands over a turn's events of all its runs together), split past
   * MAX_EVENTS_PER_APPEND events. Settles when they all have.
   */
  function send(batch: RunEvents): Promise<unknown> {
    let keys: string[] = [];
    let args: Array<string | number> = [MAX_EVENTS_PER_RUN, OPEN_RUN_TTL_SECONDS];
    let eventCount = 0;
    const calls: Array<Promise<number>> = [];
    const call = () => {
      calls.push(commands.appendRuns(keys.length, ...keys, ...args));
      keys = [];
      args = [MAX_EVENTS_PER_RUN, OPEN_RUN_TTL_SECONDS];
      eventCount = 0;
    };
    for (const [runId, events] of batch) {
      // One key per run of consecutive seqs (the script numbers entries from the first).
      let start = 0;
      for (let index = 1; index <= events.length; index += 1) {
        if (index < events.length && events[index]!.seq === events[index - 1]!.seq + 1) continue;
        let lines = JSON.stringify(events[start]);
        for (let at = start + 1; at < index; at += 1) lines += `\n${JSON.stringify(events[at])}`;
        keys.push(logKey(runId));
        args.push(events[start]!.seq, lines);
        eventCount += index - start;
        start = index;
      }
      if (eventCount >= MAX_EVENTS_PER_APPEND) call();
    }
    if (keys.length > 0) call();
    return Promise.all(calls);
  }

  /** Runs this instance opened and has not closed: their appends reach local followers directly. */
  const ownedHere = new Set<string>();
  /** Runs whose live channel this instance listens to (followed here, run elsewhere). */
  const subscribed = new Set<string>();

  async function listen(runId: string, listener: (events: ChatEvent[]) => void): Promise<() => Promise<void>> {
    let set = listeners.get(runId);
    if (!set) {
      set = new Set();
      listeners.set(runId, set);
      // A run this instance runs needs no live channel here: append hands its events over.
      if (!ownedHere.has(runId)) {
        subscribed.add(runId);
        await subscriber.subscribe(liveChannel(runId));
      }
    }
    set.add(listener);
    return async () => {
      set.delete(listener);
      if (set.size === 0 && listeners.get(runId) === set) {
        listeners.delete(runId);
        if (subscribed.delete(runId)) await subscriber.unsubscribe(liveChannel(runId)).catch(() => undefined);
      }
    };
  }

  return {
    kind: 'redis',
    async open(runId, owner) {
      ownedHere.add(runId);
      await commands.set(ownerKey(runId), JSON.stringify(owner), 'EX', OPEN_RUN_TTL_SECONDS);
    },
    async append(batch) {
      // Followers on this instance get the events now, without a round trip through Redis (they do not
      // subscribe to a run this instance owns); other instances get them on the live channel.
      for (const [runId, events] of batch) for (const listener of listeners.get(runId) ?? []) listener(events);
      await send(batch);
    },
    async owner(runId) {
      const owner = await commands.get(ownerKey(runId));
      return owner === null ? undefined : (JSON.parse(owner) as RunOwner);
    },
    async *follow(runId, afterSeq, signal) {
      let live: ChatEvent[] = [];
      const waiter = createWaiter(signal);
      const follower = { heardAt: Date.now(), resync: false, wake: waiter.wake };
      // Listen first, then read: an event published in between is in both, and dropped once by seq.
      const stop = await listen(runId, (events) => {
        live.push(...events);
        follower.heardAt = Date.now();
        waiter.wake();
      });
      followers.add(follower);
      /** Events after `seq` from the stream itself: the start, and the repair after missed messages. */
      const readAfter = async (seq: number): Promise<ChatEvent[]> => {
        // This connection runs commands in order: the read sees every append sent before it.
        const entries = await commands.xrange(logKey(runId), `0-${seq + 2}`, '+');
        if (entries.length === 0 && (await commands.exists(ownerKey(runId))) === 0) {
          throw new AppError('NOT_FOUND', `Run "${runId}" was not found or has expired.`, { param: 'runId' });
        }
        const first = entries[0];
        if (first && Number(first[0].split('-')[1]) - 1 > seq + 1) {
          throw new AppError('NOT_FOUND', `Events of run "${runId}" after ${seq} are no longer kept.`, {
            param: 'lastEventId',
          });
        }
        return entries.map(([, fields]) => JSON.parse(fields[1] ?? 'null') as ChatEvent);
      };
      let lastEvent: ChatEvent | undefined;
      try {
        let last = afterSeq;
        let pending = await readAfter(last);
        for (;;) {
          for (const event of pending) {
            if (event.seq <= last) continue;
            // A gap means pub/sub messages were missed (e.g. Redis restarted): read the stream again.
            if (event.seq > last + 1) break;
            last = event.seq;
            lastEvent = event;
            yield event;
            if (isTerminal(event)) return event;
          }
          if (signal.aborted) return lastEvent;
          if (live.length === 0) {
            await waiter.wait();
            if (signal.aborted) return lastEvent;
            if (follower.resync) {
              follower.resync = false;
              follower.heardAt = Date.now();
              pending = await readAfter(last);
              continue;
            }
          }
          pending = live;
          live = [];
          if (pending[0] && pending[0].seq > last + 1) pending = await readAfter(last);
        }
      } finally {
        followers.delete(follower);
        waiter.dispose();
        await stop();
      }
    },
    async reserve(key, runId, ttlSeconds) {
      const stored = await commands.set(`run-reserve:${key}`, runId, 'EX', ttlSeconds, 'NX');
      return stored === 'OK' ? runId : ((await commands.get(`run-reserve:${key}`)) ?? runId);
    },
    async holdReservation(key, runId, ttlSeconds) {
      await commands.holdReservation(1, `run-reserve:${key}`, runId, ttlSeconds);
    },
    async requestCancel(runId) {
      await commands.publish(CANCEL_CHANNEL, runId);
    },
    onCancelRequest(listener) {
      cancelListeners.push(listener);
    },
    async beat(runId, role, ttlMs) {
      await commands.set(heartbeatKey(runId, role), '1', 'PX', ttlMs);
    },
    async isAlive(runId, role) {
      return (await commands.exists(heartbeatKey(runId, role))) === 1;
    },
    async close(runId, ttlSeconds) {
      ownedHere.delete(runId);
      // After the run's appends on this connection, so the append script's open-run TTL does not undo it.
      await Promise.all([commands.expire(logKey(runId), ttlSeconds), commands.expire(ownerKey(runId), ttlSeconds)]);
    },
    shutdown() {
      clearInterval(resync);
      followers.clear();
      listeners.clear();
      ownedHere.clear();
      subscribed.clear();
      subscriber.disconnect();
      commands.disconnect();
      return Promise.resolve();
    },
  };
}
