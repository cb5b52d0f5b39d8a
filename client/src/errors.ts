import { errorTable } from '@astron-chat/shared';
import { TRPCClientError, type httpBatchLink } from '@trpc/client';

/**
 * A rejected call, a stream the client had to stop, or a server it could not reach; `code` is the
 * server's error table code (a server that gave no answer at all: 1006, with a message that says so).
 */
export class ChatClientError extends Error {
  override readonly name = 'ChatClientError';
  readonly code: number;

  constructor(code: number, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
  }
}

export function toChatClientError(error: unknown): ChatClientError {
  // One made here (by `reachingFetch`) travels inside tRPC's error as its cause.
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth += 1) {
    if (cause instanceof ChatClientError) return cause;
  }
  const appCode =
    error instanceof TRPCClientError ? (error.data as { appCode?: unknown } | undefined)?.appCode : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return new ChatClientError(typeof appCode === 'number' ? appCode : errorTable.UNKNOWN_ERROR.code, message, {
    cause: error,
  });
}

/** The server gave no answer: down, wrong address, or (in a browser) the page's origin refused. */
function unreachableError(serverUrl: string, cause: unknown): ChatClientError {
  return new ChatClientError(errorTable.UNKNOWN_ERROR.code, `cannot connect to ${serverUrl}: is the server running?`, {
    cause,
  });
}

/**
 * Why a browser could not reach the server. A CORS refusal and a server that is down look the same
 * to a page (a network error); a `no-cors` request, whose answer the page cannot read but which
 * succeeds whenever the server answers at all, tells them apart.
 */
export async function explainUnreachable(serverUrl: string, cause: unknown): Promise<ChatClientError> {
  const pageOrigin = (globalThis as { location?: { origin?: string } }).location?.origin;
  if (!pageOrigin || pageOrigin === 'null' || new URL(serverUrl).origin === pageOrigin) {
    return unreachableError(serverUrl, cause);
  }
  const answers = await fetch(`${serverUrl}/health`, { mode: 'no-cors' }).then(
    () => true,
    () => false,
  );
  if (!answers) return unreachableError(serverUrl, cause);
  return new ChatClientError(
    errorTable.FORBIDDEN.code,
    `${serverUrl} refused this page's origin ${pageOrigin} (CORS): add it to the server's CORS_ORIGINS.`,
    { cause },
  );
}

/** A refused request (a stream's, or a read's), with the server's code and message when its body has them. */
export async function answerError(serverUrl: string, response: Response): Promise<ChatClientError> {
  const text = await response
    .clone()
    .text()
    .catch(() => '');
  let body: { code?: unknown; message?: unknown; error?: { message?: unknown; data?: { appCode?: unknown } } } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // Not ours (a proxy's page, say): the status is all there is.
  }
  const code =
    typeof body.code === 'number'
      ? body.code
      : typeof body.error?.data?.appCode === 'number'
        ? body.error.data.appCode
        : codeOfStatus(response.status);
  const message =
    typeof body.message === 'string'
      ? body.message
      : typeof body.error?.message === 'string'
        ? body.error.message
        : `${serverUrl} answered HTTP ${response.status}.`;
  return new ChatClientError(code, message);
}

/** The table's code for an HTTP status (the first entry with it; a bare 500 is "unknown"). */
function codeOfStatus(status: number): number {
  if (status === errorTable.UNKNOWN_ERROR.httpStatus) return errorTable.UNKNOWN_ERROR.code;
  return Object.values(errorTable).find((entry) => entry.httpStatus === status)?.code ?? errorTable.UNKNOWN_ERROR.code;
}

/**
 * `fetch` that sends `headers` and turns "no answer" into a ChatClientError saying so ("cannot
 * connect to <url>", or the page's origin refused), which tRPC passes on as its error's cause.
 */
export function reachingFetch(serverUrl: string, headers: Record<string, string>): typeof fetch {
  return async (input, init = {}) => {
    const sent = new Headers(init.headers);
    for (const [name, value] of Object.entries(headers)) sent.set(name, value);
    try {
      return await fetch(input, { ...init, headers: sent });
    } catch (error) {
      if ((error as { name?: unknown }).name === 'AbortError' || init.signal?.aborted) throw error;
      throw await explainUnreachable(serverUrl, error);
    }
  };
}

/** `reachingFetch` for tRPC's HTTP links (whose `signal` may be undefined where RequestInit's is null: the same to fetch). */
export function linkFetch(serverUrl: string): NonNullable<Parameters<typeof httpBatchLink>[0]['fetch']> {
  return reachingFetch(serverUrl, {}) as NonNullable<Parameters<typeof httpBatchLink>[0]['fetch']>;
}
