import { describe, expect, it } from 'vitest';
import { createSentenceSplitter } from './sentence-splitter.ts';

function splitAll(deltas: string[]): string[][] {
  const splitter = createSentenceSplitter();
  return [...deltas.map((delta) => splitter.push(delta)), splitter.flush()];
}

describe('sentence splitter', () => {
  it('hands out English sentences once their end is certain', () => {
    expect(splitAll(['Hello world. How are you? Fine!'])).toEqual([['Hello world.', 'How are you?'], ['Fine!']]);
  });

  it('ends Chinese sentences at once, full-width punctuation and all', () => {
    expect(splitAll(['你好。今天天气很好！我们走吧？', '好的'])).toEqual([
      ['你好。', '今天天气很好！', '我们走吧？'],
      [],
      ['好的'],
    ]);
  });

  it('mixes Chinese and English', () => {
    expect(splitAll(['The demo says 你好。Then it stops. '])).toEqual([['The demo says 你好。', 'Then it stops.'], []]);
  });

  it('joins a sentence cut across deltas and speaks it once', () => {
    expect(splitAll(['Hel', 'lo wor', 'ld.', ' Next', ' one.'])).toEqual([
      [],
      [],
      [],
      ['Hello world.'],
      [],
      ['Next one.'],
    ]);
  });

  it('does not cut numbers like 3.14, even when a delta ends after the point', () => {
    expect(splitAll(['Pi is 3.', '14 roughly. Also 2.5 is half of 5. '])).toEqual([
      [],
      ['Pi is 3.14 roughly.', 'Also 2.5 is half of 5.'],
      [],
    ]);
  });

  it('does not read code blocks aloud, with fences split across deltas', () => {
    expect(splitAll(['Look at this:\n`', '``js\nconsole.log("x. y. z.");\n`', '``\nDone. ', 'Bye.'])).toEqual([
      ['Look at this:'],
      [],
      ['Done.'],
      [],
      ['Bye.'],
    ]);
  });

  it('reads inline code and link labels, not markup', () => {
    expect(splitAll(['## Title\n- Call `run()` **now**. See [the docs](https://example.com/a.b). '])).toEqual([
      ['Title', 'Call run() now.', 'See the docs.'],
      [],
    ]);
  });

  it('drops pieces with nothing to say', () => {
    expect(splitAll(['... \n\n!? ', '\n'])).toEqual([[], [], []]);
  });
});
