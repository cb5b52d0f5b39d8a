import { errorTable, type ErrorName, type ErrorPayload } from '@astron-chat/shared';
import { z } from 'zod';

/** An error with a row in the shared table. Messages are safe to show to the caller. */
export class AppError extends Error {
  override readonly name = 'AppError';
  readonly errorName: ErrorName;
  readonly param: string | undefined;
  readonly retryable: boolean;
  /** Seconds, for 429/503 answers. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    errorName: ErrorName,
    message: string,
    options: { param?: string; retryable?: boolean; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.errorName = errorName;
    this.param = options.param;
    this.retryable = options.retryable ?? errorTable[errorName].retryable;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get code() {
    return errorTable[this.errorName].code;
  }

  get httpStatus() {
    return errorTable[this.errorName].httpStatus;
  }

  toPayload(): ErrorPayload {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.param === undefined ? {} : { param: this.param }),
    };
  }
}

/** Anything thrown becomes an AppError; unknown errors never leak their message or stack. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof z.ZodError) return fromZodError(error);
  if (isConnectionError(error)) {
    return new AppError('OVERLOADED', 'A storage service is unreachable right now; try again shortly.', {
      retryAfterSeconds: 5,
      cause: error,
    });
  }
  return new AppError('UNKNOWN_ERROR', 'An internal error occurred; it has been logged.', { cause: error });
}

export function fromZodError(error: z.ZodError, prefix = ''): AppError {
  const issue = error.issues[0];
  if (!issue) return new AppError('VALIDATION_ERROR', 'Invalid request.');
  // An unknown field is to blame itself, not the object holding it.
  const keys = issue.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : [];
  const path = [prefix, ...issue.path.map(String), ...keys].filter(Boolean).join('.');
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  return new AppError('VALIDATION_ERROR', `${path || 'body'}: ${issue.message}${more}`, {
    ...(path ? { param: path } : {}),
  });
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR');
}

/** Socket-level failures of a database or cache connection (node and mysql2 codes). */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'ER_CON_COUNT_ERROR',
]);

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONNECTION_ERROR_CODES.has(code);
}
