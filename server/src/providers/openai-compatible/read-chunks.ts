import type { Readable } from 'node:stream';

/**
 * The chunks of a response body as they arrive: what `for await (const bytes of body)` gives,
 * with one promise per wait instead of the async generator, end-of-stream watcher and request
 * objects Node's Readable iterator keeps alive between chunks. A slow upstream (one chunk every
 * 200 ms) holds those across young-generation collections, so with a thousand streams open they
 * were promoted and filled the old generation (docs/decisions/2026-11-25-fewer-layers-per-event.md).
 *
 * Leaving early (`return()`, e.g. `break` or a thrown error in the loop) destroys the body, which
 * closes the upstream request.
 */
export function readChunks(body: Readable): AsyncIterableIterator<Buffer> {
  let wake: (() => void) | undefined;
  let ended = false;
  let failure: Error | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (error: Error) => {
    failure ??= error;
    notify();
  };
  const onClose = () => {
    if (!ended) failure ??= new Error('The response body closed before its end');
    notify();
  };
  body.on('readable', notify);
  body.on('end', onEnd);
  body.on('error', onError);
  body.on('close', onClose);
  // The error listener stays: destroying the body (return()) emits an AbortError on the next tick,
  // and an 'error' nobody listens to would crash the process.
  const detach = () => {
    body.off('readable', notify);
    body.off('end', onEnd);
    body.off('close', onClose);
  };

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<Buffer>> {
      for (;;) {
        // Everything buffered comes out as one chunk.
        const chunk = body.read() as Buffer | null;
        if (chunk !== null) return { done: false, value: chunk };
        if (failure) {
          detach();
          throw failure;
        }
        if (ended || body.readableEnded) {
          detach();
          return { done: true, value: undefined };
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
    return(): Promise<IteratorResult<Buffer>> {
      detach();
      if (!body.destroyed) body.destroy();
      return Promise.resolve({ done: true, value: undefined });
    },
  };
}
