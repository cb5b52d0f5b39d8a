// Splits a streamed answer into sentences to speak, as the deltas arrive: a sentence is handed out as
// soon as its end is certain. Chinese ends (。！？；…) are final at once; Latin ones (. ! ? ;) only once
// the next character is a space or a line break, so "3.14" or "example.com" is not cut, and a
// delta that stops right after "3." waits for the next one. Fenced code blocks are not read aloud.

const CJK_ENDS = new Set(['。', '！', '？', '；', '…']);
const LATIN_ENDS = new Set(['.', '!', '?', ';']);
/** Closing quotes and brackets that belong to the sentence they follow. */
const CLOSERS = new Set(['"', "'", '”', '’', ')', '）', '」', '』', '*', '_', '`']);
const FENCE = '```';

export type SentenceSplitter = {
  /** Adds a delta; returns the sentences it completed, in order. */
  push(delta: string): string[];
  /** The stream ended: whatever is left is the last sentence. */
  flush(): string[];
};

export function createSentenceSplitter(): SentenceSplitter {
  let pending = '';
  let inCode = false;

  function take(final: boolean): string[] {
    const sentences: string[] = [];
    let start = 0;
    let index = 0;
    const emit = (end: number) => {
      const sentence = toSpokenText(pending.slice(start, end));
      if (sentence) sentences.push(sentence);
      start = end;
    };
    scan: while (index < pending.length) {
      if (inCode) {
        const close = pending.indexOf(FENCE, index);
        if (close === -1) {
          // Code is dropped, except a tail that may be the start of the closing fence.
          start = index = final ? pending.length : Math.max(index, pending.length - (FENCE.length - 1));
          break;
        }
        inCode = false;
        start = index = close + FENCE.length;
        continue;
      }
      const character = pending[index] ?? '';
      if (character === '`') {
        const rest = pending.slice(index, index + FENCE.length);
        if (rest === FENCE) {
          emit(index);
          inCode = true;
          start = index = index + FENCE.length;
          continue;
        }
        if (!final && index + rest.length === pending.length && FENCE.startsWith(rest)) break; // maybe a fence
        index += 1;
        continue;
      }
      if (character === '\n') {
        emit(index);
        start = index = index + 1;
        continue;
      }
      const cjk = CJK_ENDS.has(character);
      if (cjk || LATIN_ENDS.has(character)) {
        let end = index + 1;
        while (end < pending.length && CLOSERS.has(pending[end] ?? '')) end += 1;
        if (cjk) {
          emit(end);
          index = end;
          continue;
        }
        if (end >= pending.length) {
          if (!final) break scan;
          emit(end);
          index = end;
          continue;
        }
        if (/\s/.test(pending[end] ?? '')) {
          emit(end);
          index = end;
          continue;
        }
      }
      index += 1;
    }
    if (final) {
      if (!inCode) emit(pending.length);
      pending = '';
      inCode = false;
    } else pending = pending.slice(start);
    return sentences;
  }

  return {
    push(delta) {
      pending += delta;
      return take(false);
    },
    flush() {
      return take(true);
    },
  };
}

/** Markdown markup is not read out: inline code keeps its text, links their label. */
function toSpokenText(text: string): string {
  const spoken = text
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`+/g, '')
    .replace(/^\s*(#{1,6}|[-*+]|\d+[.)]|>)\s+/gm, '')
    .replace(/(\*\*|__|\*|~~)/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return /[\p{L}\p{N}]/u.test(spoken) ? spoken : '';
}
