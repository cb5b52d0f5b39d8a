import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { transformer } from './transformer.ts';

const values: unknown[] = [
  null,
  'text',
  42,
  true,
  { type: 'text-delta', seq: 3, text: 'Hello' },
  { type: 'finish', seq: 9, finishReason: 'stop', usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 } },
  [1, 'two', { three: [3] }],
  { when: new Date('2026-01-02T03:04:05Z') },
  { missing: undefined, kept: 1 },
  [1, undefined, 3],
  { big: 10n },
  { set: new Set([1, 2]), map: new Map([['a', 1]]) },
  { nan: Number.NaN, inf: Number.POSITIVE_INFINITY, minusZero: -0 },
  Object.assign(Object.create(null) as object, { bare: true }),
  { nested: { deeper: { deepest: [{ at: new Date(0) }] } } },
];

describe('the tRPC transformer', () => {
  it.each(values.map((value) => [value]))(
    'puts %o on the wire exactly as superjson does, and reads it back',
    (value) => {
      const wire = transformer.serialize(value);
      expect(JSON.parse(JSON.stringify(wire))).toEqual(JSON.parse(JSON.stringify(superjson.serialize(value))));
      expect(transformer.deserialize(JSON.parse(JSON.stringify(wire)))).toEqual(
        superjson.deserialize(JSON.parse(JSON.stringify(superjson.serialize(value)))),
      );
    },
  );
});
