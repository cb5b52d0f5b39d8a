import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AppError } from '../errors/app-error.ts';
import type { Metrics } from './metrics.ts';

/** The delay histogram's timer period, ms; every value it records includes this. */
const RESOLUTION_MS = 10;
/** The window the lag is the mean of, ms: how fast shedding starts and stops. */
const WINDOW_MS = 500;
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
 * Load shedding by event-loop lag (OVERLOAD_LAG_MS). `perf_hooks.monitorEventLoopDelay` samples
 * the loop every 10 ms from libuv, outside JavaScript; every 500 ms its mean, less the 10 ms period,
 * becomes the lag and the histogram starts again. The mean, not the maximum: one long task (a GC
 * pause, a large frame) lifts the maximum of its window but barely the mean, while a saturated loop,
 * every turn of it late, lifts both. Past the threshold new runs and WebSocket upgrades are refused
 * quickly and with a code instead of queueing until their clients time out; runs already going
 * and their followers are not touched. Reading the lag is a variable read: it is checked per run
 * and per upgrade, never per event.
 */
export function createOverloadGuard(options: {
  thresholdMs: number;
  metrics: Pick<Metrics, 'eventLoopLag' | 'overloadLagThreshold' | 'overloadRefusals'>;
}): OverloadGuard {
  const { thresholdMs, metrics } = options;
  metrics.overloadLagThreshold.set(thresholdMs / 1000);
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  let lagMs = 0;
  const sampler = setInterval(() => {
    lagMs = histogram.count === 0 ? 0 : Math.max(0, histogram.mean / 1e6 - RESOLUTION_MS);
    histogram.reset();
    metrics.eventLoopLag.set(lagMs / 1000);
  }, WINDOW_MS);
  sampler.unref();

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
    stop() {
      clearInterval(sampler);
      histogram.disable();
    },
  };
}
