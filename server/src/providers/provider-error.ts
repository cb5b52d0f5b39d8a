import { AppError } from '../errors/app-error.ts';

/** An upstream answered with an error or garbage; knows whether trying again can help. */
export class ProviderError extends AppError {
  readonly status: number | undefined;

  constructor(message: string, options: { status?: number; retryable: boolean; cause?: unknown }) {
    super('UPSTREAM_ERROR', message, { retryable: options.retryable, cause: options.cause });
    this.status = options.status;
  }

  static fromStatus(status: number, detail: string): ProviderError {
    const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
    return new ProviderError(`Model provider answered HTTP ${status}${detail ? `: ${detail}` : ''}`, {
      status,
      retryable,
    });
  }
}
