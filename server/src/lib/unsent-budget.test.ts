import { describe, expect, it } from 'vitest';
import { createUnsentBudget, type UnsentCut } from './unsent-budget.ts';

/**
 * A stream whose unsent bytes the test sets; `cut` records how it was closed. Like the real writers,
 * it holds what it may not write yet and writes it when the budget resumes it.
 */
function fakeStream(budget: ReturnType<typeof createUnsentBudget>, transport: string) {
  const stream = { unsent: 0, held: 0, resumed: 0, cutBy: undefined as string | undefined, reason: '' };
  const flush = () => {
    if (stream.held === 0 || !handle.mayWrite(stream.held)) return false;
    stream.unsent += stream.held;
    stream.held = 0;
    handle.wrote();
    return true;
  };
  const handle = budget.register(
    transport,
    () => stream.unsent,
    (limit, reason) => {
      stream.cutBy = limit;
      stream.reason = reason;
    },
    () => {
      stream.resumed += 1;
      flush();
    },
  );
  return Object.assign(stream, {
    /** True when it went out at once. */
    write(bytes: number) {
      stream.held += bytes;
      return flush();
    },
    drain() {
      stream.unsent = 0;
    },
    release: handle.release,
  });
}

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the unsent-bytes budget', () => {
  it('holds what a stream over its own bound writes next, and sends it once the reader has caught up', async () => {
    const budget = createUnsentBudget({ perStreamBytes: 100, totalBytes: 1_000 });
    const stream = fakeStream(budget, 'ws');
    expect(stream.write(150)).toBe(true); // a large frame to a reader with nothing pending goes out
    expect(stream.write(1)).toBe(false); // the next one waits: the reader has not read the first yet
    expect(stream.write(2)).toBe(false);
    expect([stream.cutBy, stream.held]).toEqual([undefined, 3]);
    stream.drain();
    await later(60);
    expect([stream.resumed, stream.held, stream.unsent, stream.cutBy]).toEqual([1, 0, 3, undefined]);
    stream.release();
  });

  it('cuts a stream over its bound once what it holds passes the bound too', () => {
    const cuts: UnsentCut[] = [];
    const budget = createUnsentBudget({ perStreamBytes: 100, totalBytes: 1_000, onCut: (cut) => cuts.push(cut) });
    const stream = fakeStream(budget, 'ws');
    stream.write(150);
    stream.write(60);
    expect(stream.cutBy).toBeUndefined();
    stream.write(60); // 120 held on top of 150 unsent
    expect(stream.cutBy).toBe('stream');
    expect(stream.reason).toBe('slow consumer: more than 100 bytes unsent');
    expect(cuts).toEqual([{ transport: 'ws', limit: 'stream', unsentBytes: 270 }]);
    expect([budget.countedBytes(), budget.streams()]).toEqual([0, 0]);
  });

  it('cuts a stream whose reader stays over the bound for longer than the patience', async () => {
    const budget = createUnsentBudget({ perStreamBytes: 100, totalBytes: 1_000, patienceMs: 50 });
    const stream = fakeStream(budget, 'openai');
    stream.write(150);
    stream.write(1);
    await later(30);
    expect(stream.cutBy).toBeUndefined();
    await later(80);
    expect([stream.cutBy, stream.resumed]).toEqual(['stream', 0]);
  });

  it('past the total, cuts the largest streams first until it fits', () => {
    const cuts: UnsentCut[] = [];
    const budget = createUnsentBudget({ perStreamBytes: 10_000, totalBytes: 1_000, onCut: (cut) => cuts.push(cut) });
    const [small, middle, large] = [fakeStream(budget, 'openai'), fakeStream(budget, 'trpc'), fakeStream(budget, 'ws')];
    small.write(100);
    middle.write(300);
    large.write(500);
    expect(budget.countedBytes()).toBe(900);
    middle.write(300); // 1,200 in all: the largest, middle with 600, goes; 600 is left
    expect([small.cutBy, middle.cutBy, large.cutBy]).toEqual([undefined, 'total', undefined]);
    expect(middle.reason).toBe('slow consumer: 600 bytes unsent, server total over 1000');
    expect(cuts).toEqual([{ transport: 'trpc', limit: 'total', unsentBytes: 600 }]);
    expect(budget.countedBytes()).toBe(600);
    large.write(600); // 1,700: large (1,100) goes, and that is enough
    expect([small.cutBy, large.cutBy]).toEqual([undefined, 'total']);
    expect(budget.countedBytes()).toBe(100);
    expect(budget.streams()).toBe(1);
  });

  it('counts a drained stream exactly before cutting anyone', () => {
    const budget = createUnsentBudget({ perStreamBytes: 10_000, totalBytes: 1_000 });
    const reader = fakeStream(budget, 'openai');
    const stalled = fakeStream(budget, 'openai');
    reader.write(800);
    reader.drain(); // read since its last write: the running total still counts its 800
    stalled.write(700);
    expect([reader.cutBy, stalled.cutBy]).toEqual([undefined, undefined]);
    expect(budget.countedBytes()).toBe(700);
    reader.release();
    stalled.release();
    expect([budget.countedBytes(), budget.streams()]).toEqual([0, 0]);
  });
});
