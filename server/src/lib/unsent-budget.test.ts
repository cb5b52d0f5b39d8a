import { describe, expect, it } from 'vitest';
import { createUnsentBudget, type UnsentCut } from './unsent-budget.ts';

/** A stream whose unsent bytes the test sets; `cut` records how it was closed. */
function fakeStream(budget: ReturnType<typeof createUnsentBudget>, transport: string) {
  const stream = { unsent: 0, cutBy: undefined as string | undefined, reason: '' };
  const handle = budget.register(
    transport,
    () => stream.unsent,
    (limit, reason) => {
      stream.cutBy = limit;
      stream.reason = reason;
    },
  );
  return Object.assign(stream, {
    write(bytes: number) {
      const allowed = handle.mayWrite();
      if (allowed) {
        stream.unsent += bytes;
        handle.wrote();
      }
      return allowed;
    },
    drain() {
      stream.unsent = 0;
    },
    release: handle.release,
  });
}

describe('the unsent-bytes budget', () => {
  it('cuts a stream past its own bound before its next write', () => {
    const cuts: UnsentCut[] = [];
    const budget = createUnsentBudget({ perStreamBytes: 100, totalBytes: 1_000, onCut: (cut) => cuts.push(cut) });
    const stream = fakeStream(budget, 'ws');
    expect(stream.write(150)).toBe(true); // a large frame to a reader with nothing pending goes out
    expect(stream.write(1)).toBe(false);
    expect(stream.cutBy).toBe('stream');
    expect(stream.reason).toBe('slow consumer: more than 100 bytes unsent');
    expect(cuts).toEqual([{ transport: 'ws', limit: 'stream', unsentBytes: 150 }]);
    expect(budget.countedBytes()).toBe(0);
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
