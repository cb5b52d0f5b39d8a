import type { ErrorName } from '@astron-chat/shared';
import { AppError } from '../errors/app-error.ts';

/** The rows of the error table an upstream failure can take. */
export type ProviderErrorName = Extract<ErrorName, 'UPSTREAM_ERROR' | 'RATE_LIMIT_ERROR' | 'TIMEOUT_ERROR'>;

/**
 * An upstream answered with an error or garbage, or could not be reached; knows whether trying
 * again can help. Its code names the fault: the provider's rate limit (429) is 1003, a connect or
 * first-byte timeout 1005, anything else the provider did 1009.
 */
export class ProviderError extends AppError {
  readonly status: number | undefined;

  constructor(
    message: string,
    options: {
      status?: number;
      retryable: boolean;
      retryAfterSeconds?: number | undefined;
      cause?: unknown;
      errorName?: ProviderErrorName;
    },
  ) {
    super(options.errorName ?? 'UPSTREAM_ERROR', message, {
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
      ...(status === 429 ? { errorName: 'RATE_LIMIT_ERROR' as const } : {}),
    });
  }
}

/** undici's and the OS's codes for a connection that took too long (to connect, to answer, between bytes). */
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/**
 * A failure of the connection to a provider, as the error it is: a timeout (1005), or the
 * provider's connection failing — refused, reset mid-stream, closed early (1009, retryable). Never
 * our own overload (1010): these codes are the provider's socket's, not a storage service's.
 */
export function toConnectionError(error: unknown, host: string, phase: 'connect' | 'stream'): ProviderError {
  const code = (error as { code?: unknown } | null)?.code;
  const name = typeof code === 'string' ? code : 'network error';
  if (TIMEOUT_CODES.has(name)) {
    const what =
      name === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect' : name === 'UND_ERR_BODY_TIMEOUT' ? 'send more' : 'answer';
    return new ProviderError(`The model provider at ${host} took too long to ${what} (${name})`, {
      retryable: true,
      cause: error,
      errorName: 'TIMEOUT_ERROR',
    });
  }
  const message =
    phase === 'connect'
      ? `Could not reach the model provider at ${host} (${name})`
      : `The connection to the model provider at ${host} broke mid-stream (${name})`;
  return new ProviderError(message, { retryable: true, cause: error });
}

/** `Retry-After` as seconds from now: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
