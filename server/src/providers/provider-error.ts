import { AppError } from '../errors/app-error.ts';

/** An upstream answered with an error or garbage; knows whether trying again can help. */
export class ProviderError extends AppError {
  readonly status: number | undefined;

  constructor(
    message: string,
    options: { status?: number; retryable: boolean; retryAfterSeconds?: number | undefined; cause?: unknown },
  ) {
    super('UPSTREAM_ERROR', message, {
      retryable: options.retryable,
      cause: options.cause,
      ...(options.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: options.retryAfterSeconds }),
    });
    this.status = options.status;
  }

  /** `retryAfter` is the answer's `Retry-After` header (seconds or an HTTP date), when it sent one. */
  static fromStatus(status: number, detail: string, retryAfter?: string): ProviderError {
    const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
    return new ProviderError(`Model provider answered HTTP ${status}${detail ? `: ${detail}` : ''}`, {
      status,
      retryable,
      retryAfterSeconds: parseRetryAfter(retryAfter),
    });
  }
}

/** `Retry-After` as seconds from now: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
