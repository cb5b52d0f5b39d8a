import { AppError } from '../errors/app-error.ts';
import type { Metrics } from './metrics.ts';

/** How often the lag is sampled, ms. */
const SAMPLE_MS = 50;
/** The lag is the median of this many last samples: one late sample (a GC pause, one long task) does not count. */
const SAMPLES = 5;
/** What a refused caller is told to wait, seconds. */
const RETRY_AFTER_SECONDS = 1;

/** What refuses new work while the event loop lags; `refusal` is undefined when it may go ahead. */
export type OverloadGuard = {
  /** The current lag, ms (measured with shedding off too). */
  lagMs(): number;
  /**
   * The coded refusal (1010, Retry-After) for a new run or WebSocket upgrade while the lag is past
   * the threshold, counted by `kind` and `transport`; undefined otherwise.
   */
  refusal(kind: 'run' | 'websocket', transport: string): AppError | undefined;
  stop(): void;
};

/**
 * Load shedding by event-loop lag (OVERLOAD_LAG_MS). A timer of our own is due every 50 ms; how
 * late it runs is how long anything that arrives now waits for the loop (a new connection, an
 * upgrade). The lag is the median of its last five samples, so one long task (a GC pause, a large
 * frame) is not an overload, while a saturated loop, late at every turn, is within a few samples.
 * Not `perf_hooks.monitorEventLoopDelay`: over windows this short its histogram is erratic under
 * load (measured: with the loop busy 400 ms of every 410, half-second means of 401, 0 and 128 ms, as
 * its libuv timer records the catch-up intervals after a block). Past the threshold new runs and
 * WebSocket upgrades are refused at once and with a code instead of queueing until their clients
 * time out; runs already going and their followers are not touched. Reading the lag is a variable
 * read: it is checked per run and per upgrade, never per event.
 */
export function createOverloadGuard(options: {
  thresholdMs: number;
  metrics: Pick<Metrics, 'eventLoopLag' | 'overloadLagThreshold' | 'overloadRefusals'>;
}): OverloadGuard {
  const { thresholdMs, metrics } = options;
  metrics.overloadLagThreshold.set(thresholdMs / 1000);
  const samples = new Array<number>(SAMPLES).fill(0);
  let next = 0;
  let lagMs = 0;
  let dueAt = performance.now() + SAMPLE_MS;
  let timer: NodeJS.Timeout;
  const sample = () => {
    const now = performance.now();
    samples[next] = Math.max(0, now - dueAt);
    next = (next + 1) % SAMPLES;
    lagMs = [...samples].sort((a, b) => a - b)[SAMPLES >> 1]!;
    metrics.eventLoopLag.set(lagMs / 1000);
    dueAt = now + SAMPLE_MS;
    timer = setTimeout(sample, SAMPLE_MS);
    timer.unref();
  };
  timer = setTimeout(sample, SAMPLE_MS);
  timer.unref();

  return {
    lagMs: () => lagMs,
    refusal(kind, transport) {
      if (thresholdMs <= 0 || lagMs <= thresholdMs) return undefined;
      metrics.overloadRefusals.inc({ kind, transport });
      return new AppError(
        'OVERLOADED',
        `This instance is overloaded (event loop ${Math.round(lagMs)} ms behind, limit ${thresholdMs} ms); retry after ${RETRY_AFTER_SECONDS} s.`,
        { retryAfterSeconds: RETRY_AFTER_SECONDS },
      );
    },
    stop: () => clearTimeout(timer),
  };
}
