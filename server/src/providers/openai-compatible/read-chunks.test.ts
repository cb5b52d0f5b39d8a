import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readChunks } from './read-chunks.ts';

/** A body like undici's: destroying it before its end fails it with an AbortError. */
function body() {
  const stream = new Readable({
    read() {},
    destroy(error, callback) {
      callback(
        error ?? (this.readableEnded ? null : Object.assign(new Error('Request aborted'), { name: 'AbortError' })),
      );
    },
  });
  return stream;
}

describe('readChunks', () => {
  it('yields what arrives, in order, until the end', async () => {
    const stream = body();
    const read = (async () => {
      const chunks: string[] = [];
      for await (const chunk of readChunks(stream)) chunks.push(chunk.toString());
      return chunks.join('');
    })();
    stream.push('a');
    await new Promise((resolve) => setTimeout(resolve, 5));
    stream.push('b');
    stream.push('c');
    stream.push(null);
    expect(await read).toBe('abc');
  });

  it('destroys the body when the loop is left early, without an uncaught error', async () => {
    const stream = body();
    const errors: unknown[] = [];
    process.on('uncaughtException', (error) => errors.push(error));
    stream.push('a');
    for await (const chunk of readChunks(stream)) {
      expect(chunk.toString()).toBe('a');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(stream.destroyed).toBe(true);
    expect(errors).toEqual([]);
  });

  it('throws the error that ends the body', async () => {
    const stream = body();
    const read = (async () => {
      for await (const _chunk of readChunks(stream));
    })();
    stream.push('a');
    stream.destroy(new Error('socket hang up'));
    await expect(read).rejects.toThrow('socket hang up');
  });
});
