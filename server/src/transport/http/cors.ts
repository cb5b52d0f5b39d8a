import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from '../../errors/app-error.ts';

export type CorsSettings = { origins: string[]; allowCredentials: boolean };

const ALLOWED_METHODS = 'GET, POST, OPTIONS';
/** What a browser client sends: auth, JSON bodies, the gateway's consumer header, SSE resume, tRPC's own. */
const ALLOWED_HEADERS =
  'authorization, content-type, x-consumer-username, last-event-id, idempotency-key, x-astron-resumable, x-request-id, trpc-accept';
/** What it may read: a resumable stream's run id and follow token among them. */
const EXPOSED_HEADERS = 'x-request-id, retry-after, x-astron-run-id, x-astron-follow-token';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

/**
 * Cross-origin rules for browser callers (CORS_ORIGINS). A request without `Origin` (curl, SDKs, servers)
 * or from this server's own origin is not cross-origin and passes. A listed origin (or `*`) gets the CORS
 * headers; any other origin is refused with 403 before a route runs, so a page elsewhere cannot start runs
 * it is not allowed to read. The WebSocket upgrade follows the same rule.
 */
export function createCors(settings: CorsSettings) {
  const any = settings.origins.includes('*');
  const listed = new Set(settings.origins);

  /** `undefined`: not cross-origin; `true`: allowed; `false`: refused. */
  function verdict(request: IncomingMessage): boolean | undefined {
    const origin = request.headers.origin;
    if (!origin || isSameOrigin(origin, request.headers.host)) return undefined;
    return any || listed.has(origin.toLowerCase());
  }

  function refusal(origin: string): AppError {
    return new AppError(
      'FORBIDDEN',
      `Origin ${origin} may not call this server: add it to CORS_ORIGINS (comma-separated origins) to allow it.`,
    );
  }

  return {
    /**
     * Sets the CORS headers. Answers a preflight itself (returns true: nothing more to do). Throws
     * FORBIDDEN for an origin that is not allowed.
     */
    apply(request: IncomingMessage, response: ServerResponse): boolean {
      const allowed = verdict(request);
      if (allowed === undefined) return false;
      const origin = request.headers.origin ?? '';
      if (!allowed) throw refusal(origin);
      response.setHeader('access-control-allow-origin', any && !settings.allowCredentials ? '*' : origin);
      if (!any || settings.allowCredentials) response.setHeader('vary', 'Origin');
      if (settings.allowCredentials) response.setHeader('access-control-allow-credentials', 'true');
      response.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
      if (request.method !== 'OPTIONS' || !request.headers['access-control-request-method']) return false;
      response.writeHead(204, {
        'access-control-allow-methods': ALLOWED_METHODS,
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': PREFLIGHT_MAX_AGE_SECONDS,
        'content-length': '0',
      });
      response.end();
      return true;
    },

    /** The refusal for a WebSocket upgrade from an origin that is not allowed, or undefined to go on. */
    refuseUpgrade(request: IncomingMessage): AppError | undefined {
      return verdict(request) === false ? refusal(request.headers.origin ?? '') : undefined;
    },
  };
}

function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
