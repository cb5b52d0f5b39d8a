import { AppError } from '../errors/app-error.ts';
import type { Limiter } from '../cache/rate-limiter.ts';
import type { ChatContext } from './chat-request.ts';

export type AdmissionLimits = {
  /** RATE_LIMIT_APP_PER_MINUTE: runs an app may start a minute, all instances together; 0 = no limit. */
  appPerMinute: number;
  /** RATE_LIMIT_KEY_PER_MINUTE: the same per API key; 0 = no limit. */
  keyPerMinute: number;
  /** MAX_CONCURRENT_RUNS_PER_APP: runs of one app at once, all instances together. */
  concurrentRunsPerApp: number;
  /** MAX_ACTIVE_RUNS: runs this instance executes at once; past it, 503 instead of a queue. */
  activeRunsPerInstance: number;
};

/**
 * Decides whether a run may start: the event-loop lag and the per-instance cap first (no round
 * trip), then the shared rate limits and the app's concurrency. Refusals carry Retry-After.
 * Returns the release to call when the run ends.
 */
export function createAdmission(options: {
  limiter: Limiter;
  limits: AdmissionLimits;
  /** OVERLOAD_LAG_MS: refuses while the event loop lags (observability/overload.ts). */
  overload?: { refusal(kind: 'run', transport: string): AppError | undefined };
}) {
  const { limiter, limits, overload } = options;
  let active = 0;

  async function takeRate(key: string, perMinute: number, what: string) {
    if (perMinute <= 0) return;
    const admission = await limiter.take(key, { capacity: perMinute, perMinute });
    if (!admission.allowed) {
      throw new AppError('RATE_LIMIT_ERROR', `Rate limit of ${perMinute} runs a minute per ${what} reached.`, {
        retryAfterSeconds: admission.retryAfterSeconds,
      });
    }
  }

  return {
    async admit(context: ChatContext): Promise<() => Promise<void>> {
      const refusal = overload?.refusal('run', context.transport);
      if (refusal) throw refusal;
      if (active >= limits.activeRunsPerInstance) {
        throw new AppError(
          'OVERLOADED',
          `This instance is running its maximum of ${limits.activeRunsPerInstance} runs.`,
          {
            retryAfterSeconds: 1,
          },
        );
      }
      active += 1;
      // The three checks go out at once: one round trip to Redis before a run starts, not three.
      const checks = await Promise.allSettled([
        takeRate(`app:${context.appId}`, limits.appPerMinute, 'app'),
        context.apiKeyId ? takeRate(`key:${context.apiKeyId}`, limits.keyPerMinute, 'API key') : undefined,
        limiter.acquire(`app:${context.appId}`, limits.concurrentRunsPerApp),
      ]);
      const slot = checks[2].status === 'fulfilled' && checks[2].value.acquired ? checks[2].value : undefined;
      const failed = checks.find((check) => check.status === 'rejected');
      if (failed || !slot) {
        active -= 1;
        await slot?.release();
        throw failed
          ? failed.reason
          : new AppError('RATE_LIMIT_ERROR', `The app already has ${limits.concurrentRunsPerApp} runs going.`, {
              retryAfterSeconds: 1,
            });
      }
      const releaseSlot = slot.release;
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        active -= 1;
        await releaseSlot();
      };
    },
  };
}
export type Admission = ReturnType<typeof createAdmission>;
