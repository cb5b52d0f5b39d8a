import { createSentenceSplitter, type SentenceSplitter } from './sentence-splitter.ts';

/** Speaks a streamed answer sentence by sentence with the browser's speech synthesis. */
export type ReadAloud = { push(delta: string): void; finish(): void; stop(): void };

export const speechSynthesisAvailable = (): boolean =>
  typeof window !== 'undefined' && 'speechSynthesis' in window && 'SpeechSynthesisUtterance' in window;

export function createReadAloud(): ReadAloud {
  let splitter: SentenceSplitter = createSentenceSplitter();
  const speak = (sentences: string[]) => {
    if (!speechSynthesisAvailable()) return;
    for (const sentence of sentences) {
      const utterance = new SpeechSynthesisUtterance(sentence);
      utterance.lang = /[\u3400-\u9fff]/.test(sentence) ? 'zh-CN' : 'en-US';
      window.speechSynthesis.speak(utterance);
    }
  };
  return {
    push: (delta) => speak(splitter.push(delta)),
    finish: () => speak(splitter.flush()),
    stop() {
      splitter = createSentenceSplitter();
      if (speechSynthesisAvailable()) window.speechSynthesis.cancel();
    },
  };
}
