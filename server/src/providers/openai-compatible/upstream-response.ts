import { getGlobalDispatcher, type Dispatcher } from 'undici';

/** Body bytes held for a reader that has not caught up; past this the connection is paused. */
const HIGH_WATER_BYTES = 64 * 1024;

export type UpstreamRequest = {
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body: string | null;
  signal: AbortSignal;
  /** undici dispatcher (connection pool); the global one by default. */
  dispatcher?: Dispatcher | undefined;
};

export type UpstreamResponse = {
  readonly statusCode: number;
  /**
   * A refused response's `Retry-After` (a 429's, say). Only this header is kept: holding every
   * response's headers for as long as it streams cost about 0.4 KB per open stream.
   */
  readonly retryAfter: string | undefined;
  /**
   * Everything that arrived since the last call, waiting for it if nothing did; `undefined` once
   * the body ended. Throws the error that ended it otherwise (`signal` aborting included).
   */
  read(): Promise<Buffer | undefined>;
  /** Done with it: a body not read to its end is aborted, which closes its connection. */
  close(): void;
};

/**
 * Sends a request and resolves with its response once the status line and headers arrive; the body
 * then comes in as the network gives it. Built on undici's dispatcher handler API rather than
 * `request()`: its Readable body scheduled ticks and events per chunk and kept stream state alive
 * between chunks, which with a thousand slow streams open was about a tenth of what the server
 * allocated. Rejects with the connection's error, or the signal's reason, before any response.
 */
export function sendUpstream(url: URL, request: UpstreamRequest): Promise<UpstreamResponse> {
  const { signal } = request;
  if (signal.aborted) return Promise.reject(reasonOf(signal));
  return new Promise((resolveStart, rejectStart) => {
    let controller: Dispatcher.DispatchController | undefined;
    let chunks: Buffer[] = [];
    let buffered = 0;
    let ended = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const notify = () => {
      const resolve = wake;
      wake = undefined;
      resolve?.();
    };
    // Settled at once: a request still queued for a connection is aborted when it gets one.
    const onAbort = () => {
      const reason = reasonOf(signal);
      settle(reason);
      controller?.abort(reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    function settle(error?: Error) {
      signal.removeEventListener('abort', onAbort);
      if (error) {
        failure ??= error;
        rejectStart(error);
      } else ended = true;
      notify();
    }

    const response: UpstreamResponse & { statusCode: number; retryAfter: string | undefined } = {
      statusCode: 0,
      retryAfter: undefined,
      async read() {
        for (;;) {
          if (chunks.length > 0) {
            const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, buffered);
            chunks = [];
            buffered = 0;
            if (controller?.paused) controller.resume();
            return bytes;
          }
          if (failure) throw failure;
          if (ended) return undefined;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
      },
      close() {
        if (ended || failure) return;
        const closed = new DOMException('The response was closed before its end.', 'AbortError');
        settle(closed);
        controller?.abort(closed);
      },
    };

    (request.dispatcher ?? getGlobalDispatcher()).dispatch(
      {
        origin: url.origin,
        path: url.pathname + url.search,
        method: request.method,
        headers: request.headers,
        body: request.body,
      },
      {
        onRequestStart(started) {
          controller = started;
          if (signal.aborted) started.abort(reasonOf(signal));
        },
        onResponseStart(started, statusCode, headers) {
          response.statusCode = statusCode;
          if (statusCode >= 300) response.retryAfter = [headers['retry-after']].flat()[0];
          // Parsed already: the controller would otherwise hold the raw header buffers, views on
          // the socket's read, for as long as the response streams (about 1.4 KB per open stream).
          started.rawHeaders = null;
          resolveStart(response);
        },
        onResponseData(paused, chunk) {
          chunks.push(chunk);
          buffered += chunk.length;
          if (buffered >= HIGH_WATER_BYTES) paused.pause();
          notify();
        },
        onResponseEnd() {
          settle();
        },
        onResponseError(_controller, error) {
          settle(error);
        },
      },
    );
  });
}

const reasonOf = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted.', 'AbortError');
