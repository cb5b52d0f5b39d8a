import { randomUUID } from 'node:crypto';
import type { ChatEvent } from '@astron-chat/shared';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { testBackends } from '../../test/support/backends.ts';
import { createMemoryRunLog } from './memory-run-log.ts';
import { createRedisRunLog } from './redis-run-log.ts';
import { oneRun, type RunLog, type RunOwner } from './run-log.ts';

const redisUrl = testBackends().find((backend) => backend.redisUrl)?.redisUrl;
const logs: Array<[string, () => RunLog]> = [
  ['memory', () => createMemoryRunLog()],
  ...(redisUrl ? [['redis', () => createRedisRunLog(redisUrl)] as [string, () => RunLog]] : []),
];

const owner = (runId: string): RunOwner => ({
  runId,
  appId: 'app-1',
  botId: 'bot-1',
  botVersion: 3,
  chatId: 'chat-1',
  uid: 'u',
  apiKeyId: undefined,
  transport: 'trpc',
  model: 'model-1',
  caller: undefined,
  callerSid: undefined,
  createdAt: 1_700_000_000_123,
  question: 'why?',
});
const text = (seq: number): ChatEvent => ({ type: 'text-delta', seq, text: `t${seq}` });
const finish = (seq: number): ChatEvent => ({
  type: 'finish',
  seq,
  finishReason: 'stop',
  usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 },
});

async function collect(events: AsyncIterable<ChatEvent>): Promise<number[]> {
  const seqs: number[] = [];
  for await (const event of events) seqs.push(event.seq);
  return seqs;
}

// One contract for every RunLog implementation.
describe.each(logs)('run log on %s', (_name, open) => {
  const log = open();
  afterAll(() => log.shutdown());

  it('replays after a sequence number, then follows live until the terminal event', async () => {
    const runId = `run_${randomUUID()}`;
    await log.open(runId, owner(runId));
    // Kept whole: a late subscriber frames with it, and a run lost with its instance is recorded from it.
    expect(await log.owner(runId)).toEqual(owner(runId));
    await log.append(oneRun(runId, [text(0), text(1), text(2)]));
    const following = collect(log.follow(runId, 0, new AbortController().signal));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await log.append(oneRun(runId, [text(3)]));
    await log.append(oneRun(runId, [finish(4)]));
    expect(await following).toEqual([1, 2, 3, 4]);
    expect(await collect(log.follow(runId, -1, new AbortController().signal))).toEqual([0, 1, 2, 3, 4]);
    expect(await collect(log.follow(runId, 3, new AbortController().signal))).toEqual([4]);
  });

  it('lets several followers watch one run at once, each getting every event once', async () => {
    const runId = `run_${randomUUID()}`;
    await log.open(runId, owner(runId));
    const followers = [0, 1, 2].map(() => collect(log.follow(runId, -1, new AbortController().signal)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (let seq = 0; seq < 20; seq += 1) await log.append(oneRun(runId, [text(seq)]));
    await log.append(oneRun(runId, [finish(20)]));
    const expected = Array.from({ length: 21 }, (_, seq) => seq);
    expect(await Promise.all(followers)).toEqual([expected, expected, expected]);
  });

  it('stops following when the signal aborts', async () => {
    const runId = `run_${randomUUID()}`;
    await log.open(runId, owner(runId));
    await log.append(oneRun(runId, [text(0)]));
    const controller = new AbortController();
    const following = collect(log.follow(runId, -1, controller.signal));
    setTimeout(() => controller.abort(), 50);
    expect(await following).toEqual([0]);
  });

  it('gives back every event as it was appended, whatever its text holds', async () => {
    const runId = `run_${randomUUID()}`;
    await log.open(runId, owner(runId));
    const events: ChatEvent[] = [
      { type: 'text-delta', seq: 0, text: 'two\nlines, "quoted", and\r\n\\n escaped' },
      { type: 'text-delta', seq: 1, text: '你好 🌍\u2028' },
      finish(2),
    ];
    // Appended one after the other without waiting, as the run manager does turn after turn.
    await Promise.all([log.append(oneRun(runId, events.slice(0, 2))), log.append(oneRun(runId, events.slice(2)))]);
    const replayed: ChatEvent[] = [];
    for await (const event of log.follow(runId, -1, new AbortController().signal)) replayed.push(event);
    expect(replayed).toEqual(events);
  });

  it('reserves a key for the first run only; the holder alone moves its expiry or drops it', async () => {
    const key = `test:${randomUUID()}`;
    expect(await log.reserve(key, 'run_a', 60)).toBe('run_a');
    expect(await log.reserve(key, 'run_b', 60)).toBe('run_a');
    await log.holdReservation(key, 'run_b', 0);
    expect(await log.reserve(key, 'run_b', 60)).toBe('run_a');
    await log.holdReservation(key, 'run_a', 1);
    expect(await log.reserve(key, 'run_b', 60)).toBe('run_a');
    await log.holdReservation(key, 'run_a', 0);
    expect(await log.reserve(key, 'run_b', 60)).toBe('run_b');
  });

  it('does not know runs it was never told about', async () => {
    await expect(collect(log.follow('run_missing', -1, new AbortController().signal))).rejects.toMatchObject({
      code: 1008,
    });
    expect(await log.owner('run_missing')).toBeUndefined();
  });
});

describe('memory run log', () => {
  it('keeps at most maxClosedEvents events of closed runs, forgetting the longest closed first', async () => {
    const log = createMemoryRunLog({ maxClosedEvents: 5 });
    try {
      const runIds = ['run_a', 'run_b', 'run_c'];
      for (const runId of runIds) {
        await log.open(runId, owner(runId));
        await log.append(oneRun(runId, [text(0), text(1), finish(2)]));
        await log.close(runId, 600);
      }
      // Three closed runs of three events: the first two went to make room for the third.
      await expect(collect(log.follow('run_a', -1, new AbortController().signal))).rejects.toThrow(/not found/);
      await expect(collect(log.follow('run_b', -1, new AbortController().signal))).rejects.toThrow(/not found/);
      expect(await collect(log.follow('run_c', -1, new AbortController().signal))).toEqual([0, 1, 2]);
      // A run still going is never forgotten for room.
      await log.open('run_d', owner('run_d'));
      await log.append(oneRun('run_d', [text(0), text(1), text(2), text(3), text(4), text(5)]));
      await log.append(oneRun('run_d', [finish(6)]));
      expect(await collect(log.follow('run_d', 4, new AbortController().signal))).toEqual([5, 6]);
    } finally {
      await log.shutdown();
    }
  });

  it('keeps the latest closed runs, however many have come and gone before them', async () => {
    const log = createMemoryRunLog({ maxClosedEvents: 30 });
    try {
      for (let index = 0; index < 5_000; index += 1) {
        const runId = `run_${index}`;
        await log.open(runId, owner(runId));
        await log.append(oneRun(runId, [text(0), text(1), finish(2)]));
        await log.close(runId, 600);
      }
      // Room for ten runs of three events: the last ten closed, and none before them.
      for (const index of [4_990, 4_995, 4_999]) {
        expect(await collect(log.follow(`run_${index}`, -1, new AbortController().signal))).toEqual([0, 1, 2]);
      }
      for (const index of [0, 1_500, 4_989]) {
        await expect(collect(log.follow(`run_${index}`, -1, new AbortController().signal))).rejects.toThrow(
          /not found/,
        );
      }
    } finally {
      await log.shutdown();
    }
  });
});

describe.runIf(redisUrl)('redis run log', () => {
  it('a follower on another instance gets the events of runs appended together, each run in order', async () => {
    const runningIt = createRedisRunLog(redisUrl!);
    const followingIt = createRedisRunLog(redisUrl!);
    try {
      const runIds = [`run_${randomUUID()}`, `run_${randomUUID()}`];
      for (const runId of runIds) await runningIt.open(runId, owner(runId));
      const following = runIds.map((runId) => collect(followingIt.follow(runId, -1, new AbortController().signal)));
      await new Promise((resolve) => setTimeout(resolve, 50));
      // As the run manager hands over its turns: every run's events of a turn in one append.
      const appended: Array<Promise<void>> = [];
      for (let seq = 0; seq < 5; seq += 1)
        appended.push(runningIt.append(new Map(runIds.map((runId) => [runId, [text(seq)]]))));
      appended.push(runningIt.append(new Map(runIds.map((runId) => [runId, [text(5), finish(6)]]))));
      await Promise.all(appended);
      expect(await Promise.all(following)).toEqual([
        [0, 1, 2, 3, 4, 5, 6],
        [0, 1, 2, 3, 4, 5, 6],
      ]);
    } finally {
      await runningIt.shutdown();
      await followingIt.shutdown();
    }
  });

  it('a follower that missed live messages reads the events from the stream within about a second', async () => {
    const runningIt = createRedisRunLog(redisUrl!);
    const followingIt = createRedisRunLog(redisUrl!);
    const raw = new Redis(redisUrl!);
    try {
      const runId = `run_${randomUUID()}`;
      await runningIt.open(runId, owner(runId));
      const following = collect(followingIt.follow(runId, -1, new AbortController().signal));
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Entries without their live message, as when a message is lost (Redis restarted, say).
      const startedAt = Date.now();
      await raw.xadd(`run-log:${runId}`, '0-1', 'e', JSON.stringify(text(0)));
      await raw.xadd(`run-log:${runId}`, '0-2', 'e', JSON.stringify(finish(1)));
      expect(await following).toEqual([0, 1]);
      expect(Date.now() - startedAt).toBeLessThan(2_500);
    } finally {
      raw.disconnect();
      await runningIt.shutdown();
      await followingIt.shutdown();
    }
  });
});
