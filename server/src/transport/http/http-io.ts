import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { AppError } from '../../errors/app-error.ts';
import type { Credentials } from '../../auth/authenticator.ts';

/** Reads and parses a JSON body, refusing more than `maxBytes` before reading it all. */
export async function readJsonBody(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      request.resume(); // drain the rest so the answer can be read
      throw tooLarge(maxBytes);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new AppError('VALIDATION_ERROR', 'The request body is empty; send a JSON object.');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError('VALIDATION_ERROR', `The request body is not valid JSON: ${(error as Error).message}`);
  }
}

function tooLarge(maxBytes: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `The request body is larger than the limit of ${maxBytes} bytes.`);
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/** `Retry-After` for an error (or a run's error event) that says how long to wait. */
export function retryAfterHeader(error: { retryAfterSeconds?: number | undefined }): Record<string, string> {
  return error.retryAfterSeconds === undefined ? {} : { 'retry-after': String(Math.ceil(error.retryAfterSeconds)) };
}

/** A header's value, the first when it came more than once. */
export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Bearer key and consumer header (both spellings: gateways pass underscores through). */
export function credentialsFromHeaders(headers: IncomingHttpHeaders): Credentials {
  const authorization = firstHeader(headers.authorization);
  const match = authorization ? /^Bearer\s+(.+)$/i.exec(authorization.trim()) : null;
  return {
    apiKey: match?.[1],
    consumer: firstHeader(headers['x-consumer-username']) ?? firstHeader(headers['x_consumer_username']),
  };
}

export function requestIdOf(headers: IncomingHttpHeaders): string {
  const given = firstHeader(headers['x-request-id']);
  return given && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
}

/** An AbortSignal that fires when the client goes away before the response ended. */
export function abortOnClose(response: ServerResponse): AbortController {
  const controller = new AbortController();
  response.on('close', () => {
    if (!response.writableFinished) controller.abort();
  });
  return controller;
}

/** Refuses a WebSocket upgrade with a plain HTTP answer: the code table's status and `{code, message}`. */
export function refuseUpgrade(socket: Duplex, error: AppError): void {
  const body = JSON.stringify({ code: error.code, message: error.message });
  socket.end(
    `HTTP/1.1 ${error.httpStatus} ${error.errorName}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
