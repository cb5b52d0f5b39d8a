import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { isAbortError } from '../errors/app-error.ts';
import { parseRetryAfter } from '../providers/provider-error.ts';
import { errorClassOfStatus, HttpCallError } from './error-policy.ts';

export type HttpCallOptions = {
  /** HTTP_TOOL_ALLOWLIST: origins (`https://api.example.com`, `http://10.0.0.5:8080`) that tools may call. */
  allowlist: string[];
  /**
   * Let allow-listed host *names* resolve to loopback or private addresses (HTTP_TOOL_ALLOW_PRIVATE,
   * default false). An allow-listed IP literal is always reachable: it was named on purpose.
   */
  allowPrivateNetwork: boolean;
  /** Test seam: how names resolve. Default: the system resolver. */
  lookup?: typeof dnsLookup;
};

export type HttpCallRequest = {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  url: string;
  headers?: Record<string, string> | undefined;
  body?: string | undefined;
  /** Per call, ms. */
  timeoutMs: number;
  maxResponseBytes: number;
};

export type HttpCallResult = { status: number; body: string; json: unknown; headers: Record<string, string> };

const MAX_REDIRECTS = 3;

const privateRanges = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv6');
}

/** Loopback, private, link-local, CGNAT, multicast or unspecified (IPv4-mapped IPv6 included). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return privateRanges.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return privateRanges.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Outbound HTTP for workflow nodes and agent tools. A URL is called only when its origin is on the
 * allow-list; a host name must not resolve to a private or loopback address (checked on the address
 * actually connected to, so DNS rebinding cannot slip past); redirects are followed by hand, each
 * hop checked again; the response is cut off past its size limit.
 */
export function createHttpCaller(options: HttpCallOptions) {
  const allowed = new Set(options.allowlist.map((origin) => new URL(origin).origin));
  let selfOrigin: string | undefined;
  const resolve = options.lookup ?? dnsLookup;

  const guardedLookup: LookupFunction = (hostname, lookupOptions, callback) => {
    resolve(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const list = addresses;
      const blocked = options.allowPrivateNetwork ? undefined : list.find((entry) => isPrivateAddress(entry.address));
      if (blocked || list.length === 0) {
        const refusal = Object.assign(
          new Error(`${hostname} resolves to ${blocked?.address ?? 'nothing'}, a private or loopback address`),
          { code: 'EADDRBLOCKED' },
        );
        callback(refusal, '', 0);
        return;
      }
      if (lookupOptions.all) callback(null, list);
      else callback(null, list[0]?.address ?? '', list[0]?.family ?? 4);
    });
  };
  const dispatcher: Dispatcher = new Agent({ connect: { lookup: guardedLookup }, connections: 64 });

  function checkUrl(url: URL): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new HttpCallError(`${url.protocol} URLs are not allowed; use http or https.`, { errorClass: 'business' });
    }
    if (url.username || url.password) {
      throw new HttpCallError('URLs with credentials are not allowed.', { errorClass: 'business' });
    }
    if (!allowed.has(url.origin) && url.origin !== selfOrigin) {
      throw new HttpCallError(`${url.origin} is not on the HTTP tool allow-list.`, { errorClass: 'business' });
    }
  }

  async function call(input: HttpCallRequest, signal: AbortSignal): Promise<HttpCallResult> {
    let url = toUrl(input.url);
    const timeout = AbortSignal.timeout(input.timeoutMs);
    const callSignal = AbortSignal.any([signal, timeout]);
    let method = input.method;
    let body = input.body;
    for (let hop = 0; ; hop += 1) {
      checkUrl(url);
      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, {
          method,
          headers: { 'user-agent': 'astron-chat-http-tool', ...input.headers },
          ...(body === undefined || method === 'GET' || method === 'HEAD' ? {} : { body }),
          signal: callSignal,
          dispatcher,
          headersTimeout: input.timeoutMs,
          bodyTimeout: input.timeoutMs,
        });
      } catch (error) {
        throw toCallError(error, url, { signal, timeout, timeoutMs: input.timeoutMs });
      }
      const location = response.headers.location;
      if (response.statusCode >= 300 && response.statusCode < 400 && location) {
        // Discard the redirect's body (bounded) so the connection is reused and nothing is left unread.
        await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        if (hop >= MAX_REDIRECTS) {
          throw new HttpCallError(`More than ${MAX_REDIRECTS} redirects from ${input.url}.`, {
            errorClass: 'business',
          });
        }
        const next = new URL(String(location), url);
        try {
          checkUrl(next);
        } catch {
          throw new HttpCallError(`${url.origin} redirected to ${next.origin}, which is not on the allow-list.`, {
            errorClass: 'business',
            status: response.statusCode,
          });
        }
        if (
          response.statusCode === 303 ||
          ((response.statusCode === 301 || response.statusCode === 302) && method === 'POST')
        ) {
          method = 'GET';
          body = undefined;
        }
        url = next;
        continue;
      }
      let text: string;
      try {
        text = await readLimited(response.body, input.maxResponseBytes);
      } catch (error) {
        if (error instanceof HttpCallError) throw error;
        throw toCallError(error, url, { signal, timeout, timeoutMs: input.timeoutMs });
      }
      if (response.statusCode >= 400) {
        throw new HttpCallError(
          `${url.origin}${url.pathname} answered HTTP ${response.statusCode}: ${text.slice(0, 200)}`,
          {
            status: response.statusCode,
            errorClass: errorClassOfStatus(response.statusCode),
            retryAfterSeconds: parseRetryAfter([response.headers['retry-after']].flat()[0]),
          },
        );
      }
      let json: unknown = undefined;
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        // not JSON: `body` has the text
      }
      const headers = Object.fromEntries(
        Object.entries(response.headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(', ') : String(value),
        ]),
      );
      return { status: response.statusCode, body: text, json, headers };
    }
  }

  function toUrl(text: string): URL {
    try {
      return text.startsWith('/') && selfOrigin ? new URL(text, selfOrigin) : new URL(text);
    } catch {
      throw new HttpCallError(
        text.startsWith('/')
          ? `${text}: paths on this server are only allowed in demo mode.`
          : `"${text.slice(0, 200)}" is not a URL.`,
        { errorClass: 'business' },
      );
    }
  }

  return {
    call,
    /** This server's own origin, callable by path (`/tools/calculator`): set once listening, in demo mode only. */
    allowSelf(origin: string) {
      selfOrigin = new URL(origin).origin;
    },
    close: () => dispatcher.close(),
  };
}
export type HttpCaller = ReturnType<typeof createHttpCaller>;

async function readLimited(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        throw new HttpCallError(`The response is larger than the limit of ${maxBytes} bytes.`, {
          errorClass: 'business',
        });
      }
      chunks.push(chunk);
    }
  } finally {
    if (!body.destroyed) body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

function toCallError(
  error: unknown,
  url: URL,
  context: { signal: AbortSignal; timeout: AbortSignal; timeoutMs: number },
): unknown {
  if (context.signal.aborted) return error; // the run was cancelled: not an HTTP failure
  const code =
    (error as { code?: string; cause?: { code?: string } }).code ??
    (error as { cause?: { code?: string } }).cause?.code;
  if (
    context.timeout.aborted ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return new HttpCallError(`${url.origin} did not answer within ${context.timeoutMs} ms.`, {
      errorClass: 'network-timeout',
      timeout: true,
    });
  }
  if (code === 'EADDRBLOCKED') {
    return new HttpCallError(`${(error as Error).message}; the HTTP tool may not call it.`, { errorClass: 'business' });
  }
  if (isAbortError(error)) return error;
  return new HttpCallError(`Could not reach ${url.origin} (${code ?? 'network error'}).`, {
    errorClass: 'network-timeout',
  });
}
