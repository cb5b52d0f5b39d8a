/**
 * Runs `callback` once this turn of the event loop is over, together with every other callback
 * queued in the same turn, from one `setImmediate`.
 *
 * A writer per stream that scheduled its own immediate would cost an Immediate object and, after
 * each HTTP write, a pass over Node's tick queue, per stream and per event: with a thousand streams
 * open that was a large share of the garbage between events. Here a thousand writers that have
 * something to send go out in one callback, and Node runs its tick queue once after all of them.
 *
 * A callback that throws does not stop the others; its error is rethrown on its own, as an
 * uncaught exception, as it would have been from its own immediate.
 */
let queue: Array<() => void> = [];

export function afterThisTurn(callback: () => void): void {
  if (queue.length === 0) setImmediate(runQueue);
  queue.push(callback);
}

function runQueue(): void {
  const callbacks = queue;
  queue = [];
  for (const callback of callbacks) {
    try {
      callback();
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
